//! The console in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs), driven over WebDriver
//! with fantoccini: sign in, find a project, mark a milestone ready (the
//! confirmation dialog accepted) and see the fake Graph API receive the
//! client's approval prompt, change a status, read a held message's
//! reason, sign out. Then a screenshot of every page at a phone's width
//! and a desktop's, kept in `target/console-screenshots/`.
//!
//! Without the packages this test fails and says what to install.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::console::{ALBA, ALTBAU, INSTALLATION, KENSINGTON, NORDLICHT};
use crate::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 900);

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> (Driver, u16) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Driver(child), port)
}

async fn browser(port: u16) -> Client {
    let capabilities = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=390,844"],
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The text of `css` once it contains `wanted` (a click's page may still
/// be loading: the old page's element goes stale, or says something else).
async fn wait_text(client: &Client, css: &str, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(wanted) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css} never said {wanted:?}; last: {last:?}");
}

/// Clicks the link `text` until the page's h1 says `then` (a link found
/// on the page before a navigation finished goes stale: find it again).
async fn follow(client: &Client, text: &str, then: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(link) = client.find(Locator::LinkText(text)).await {
            let _ = link.click().await;
        }
        if let Ok(h1) = client.find(Locator::Css("h1")).await
            && h1.text().await.is_ok_and(|t| t.contains(then))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "following {text:?} never showed {then:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no {css}: {err}"))
        .click()
        .await
        .unwrap();
}

#[test]
fn a_studio_manager_works_through_the_console_in_chromium() {
    if !system_programs(
        "console_browser",
        &[CHROMIUM, CHROMEDRIVER],
        "chromium chromium-driver",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    app.open_window(ALBA_NUMBER, "447911123401");
    let (_driver, port) = chromedriver();
    let base = app.url("");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let c = browser(port).await;

        // Signed out, the console sends you to sign in.
        c.goto(&format!("{base}/console")).await.unwrap();
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/console/sign-in")
        );
        let token = c.find(Locator::Id("token")).await.unwrap();
        token.send_keys(ADMIN).await.unwrap();
        click(&c, "button[type=submit]").await;
        wait_text(&c, "h1", "Firms").await;

        // Find the project by name.
        follow(&c, "Studio Alba", "Projects").await;
        c.find(Locator::Id("q"))
            .await
            .unwrap()
            .send_keys("kitchen")
            .await
            .unwrap();
        click(&c, ".filters button").await;
        wait_text(&c, ".count", "1 of 1 project.").await;
        follow(&c, "Kensington Kitchen", "Kensington Kitchen").await;

        // Mark "Installation" ready: the page asks first, then Emma gets
        // the approval prompt on WhatsApp.
        let ready = format!("form[action$='/milestones/{INSTALLATION}/ready'] button");
        click(&c, &ready).await;
        assert_eq!(
            c.get_alert_text().await.unwrap(),
            "Send the client an approval request on WhatsApp?"
        );
        c.accept_alert().await.unwrap();
        wait_text(&c, ".done", "asked on WhatsApp to approve").await;
        let prompt = graph
            .wait_for(1, Duration::from_secs(10))
            .into_iter()
            .find(|r| r.to() == "447911123401")
            .expect("the approval prompt");
        assert_eq!(prompt.ids(), [format!("mil:{INSTALLATION}")]);

        // Change the project's status.
        c.find(Locator::Id("status"))
            .await
            .unwrap()
            .select_by_value("On Hold")
            .await
            .unwrap();
        click(&c, "form[action$='/status'] button").await;
        wait_text(&c, ".done", "Status changed.").await;
        wait_text(&c, ".facts", "On Hold").await;

        // Nordlicht's Lena never wrote and there is no template: her
        // prompt is held, and the messages page says why.
        c.goto(&format!(
            "{base}/console/firms/{NORDLICHT}/projects/{ALTBAU}"
        ))
        .await
        .unwrap();
        click(&c, "form[action$='/ready'] button").await;
        c.accept_alert().await.unwrap();
        // The banner says so (it used to claim she had been asked).
        wait_text(&c, ".done", "prompt is held").await;
        c.goto(&format!("{base}/console/firms/{NORDLICHT}/messages"))
            .await
            .unwrap();
        c.find(Locator::Id("phone"))
            .await
            .unwrap()
            .send_keys("0151 12345678")
            .await
            .unwrap();
        click(&c, ".filters button").await;
        wait_text(&c, ".reason", "outside the 24-hour window, no template").await;

        // Every page, at a phone's width and a desktop's.
        // Each page with the heading it must show: an error page fails.
        let pages = [
            ("firms", "/console/firms".to_owned(), "Firms"),
            ("health", "/console/health".to_owned(), "Health"),
            ("events", "/console/events".to_owned(), "Events"),
            (
                "projects",
                format!("/console/firms/{ALBA}/projects"),
                "Projects",
            ),
            (
                "project",
                format!("/console/firms/{ALBA}/projects/{KENSINGTON}"),
                "Kensington Kitchen",
            ),
            (
                "messages",
                format!("/console/firms/{NORDLICHT}/messages?phone=015112345678"),
                "Messages",
            ),
            (
                "who",
                format!("/console/firms/{ALBA}/who?phone=07911123401"),
                "Who is this number?",
            ),
            (
                "settings",
                format!("/console/firms/{ALBA}/settings"),
                "Settings",
            ),
        ];
        let dir = screenshots();
        for (size, (width, height)) in [("phone", PHONE), ("desktop", DESKTOP)] {
            c.set_window_size(width, height).await.unwrap();
            for (name, path, heading) in &pages {
                c.goto(&format!("{base}{path}")).await.unwrap();
                wait_text(&c, "h1", heading).await;
                // Nothing wider than the screen on a phone.
                let overflow = c
                    .execute(
                        "return document.documentElement.scrollWidth > window.innerWidth",
                        vec![],
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    overflow,
                    serde_json::json!(false),
                    "{name} overflows at {size}"
                );
                let png = c.screenshot().await.unwrap();
                std::fs::write(dir.join(format!("{name}-{size}.png")), png).unwrap();
            }
        }

        // Sign out: back to the sign-in page, and the pages are closed.
        c.goto(&format!("{base}/console/firms")).await.unwrap();
        click(&c, ".sign-out button").await;
        wait_text(&c, "h1", "firmhook").await;
        let png = c.screenshot().await.unwrap();
        std::fs::write(dir.join("sign-in-desktop.png"), png).unwrap();
        c.goto(&format!("{base}/console/firms")).await.unwrap();
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/console/sign-in")
        );
        c.close().await.unwrap();
    });
}
