//! `firmhook simulate`: one realistic, signed webhook to a running server,
//! then the bot's answers as `serve --dev` kept them (`GET /dev/messages`),
//! with every button and list row shown with its id, ready to paste into
//! `--button`. Walks a newcomer through every flow from a terminal.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::whatsapp::signature::{self, Secret};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("content").required(true).args(["text", "button"])))]
pub struct Args {
    /// The sender: a phone (wa_id or +international) or a BSUID like US.1349…
    #[arg(long)]
    pub from: String,
    /// Send a text message
    #[arg(long)]
    pub text: Option<String>,
    /// Tap a button or list row with this id (as printed after a reply)
    #[arg(long)]
    pub button: Option<String>,
    /// The server
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The app secret to sign with
    #[arg(
        long,
        env = "WHATSAPP_APP_SECRET",
        default_value = "dev-secret",
        hide_env_values = true
    )]
    pub secret: String,
    /// The business number the message arrives on (default: the number of
    /// `--firm`, else one no firm owns). A firm with a number of its own
    /// hears its people only on that number.
    #[arg(long)]
    pub phone_number_id: Option<String>,
    /// The firm whose own number the message goes to, by name or id (asked
    /// of the server)
    #[arg(long, conflicts_with = "phone_number_id")]
    pub firm: Option<String>,
}

/// The number no demo firm owns.
const UNOWNED_NUMBER: &str = "100000000000000";

/// What to tell someone whose server is not there.
const START_HINT: &str = "is the server running? start it with `cargo run --release -- serve --dev` \
                          (or `firmhook serve --dev`), or give its address with --url";

/// How long to wait for the bot's answer.
const WAIT: Duration = Duration::from_secs(5);

pub fn run(args: Args) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let (wa_id, bsuid) = sender(&args.from)?;
    let (before, held_before) = last_seq(&agent, &base)?;
    let number = match (&args.phone_number_id, &args.firm) {
        (Some(number), _) => number.clone(),
        (None, Some(firm)) => firm_number(&agent, &base, firm)?,
        (None, None) => UNOWNED_NUMBER.to_owned(),
    };

    let body = payload(&args, &number, wa_id.as_deref(), bsuid.as_deref()).to_string();
    let header = signature::sign(&Secret::new(args.secret.clone()), body.as_bytes());
    let mut response = agent
        .post(&format!("{base}/webhook"))
        .header("Content-Type", "application/json")
        .header(signature::HEADER, &header)
        .send(body)
        .with_context(|| format!("posting to {base}/webhook ({START_HINT})"))?;
    let status = response.status().as_u16();
    if status != 200 {
        let text = response.body_mut().read_to_string().unwrap_or_default();
        bail!("the server answered {status}: {}", text.trim());
    }
    let me = wa_id.clone().or(bsuid.clone()).unwrap_or_default();
    println!(
        "→ {}",
        args.text
            .as_deref()
            .or(args.button.as_deref())
            .unwrap_or("")
    );

    // What this message caused: new messages, and held ones it released
    // (older, so earlier in the list, but sent now).
    let caused = || -> anyhow::Result<Vec<Value>> {
        let mut out = released(&agent, &base, &held_before)?;
        out.extend(messages_after(&agent, &base, before)?);
        Ok(out)
    };
    let started = Instant::now();
    let mut replies = Vec::new();
    while started.elapsed() < WAIT {
        replies = caused()?;
        if !replies.is_empty() {
            // Give a notification to the other party a moment to follow.
            std::thread::sleep(Duration::from_millis(300));
            replies = caused()?;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if replies.is_empty() {
        println!("(no answer)");
    }
    for reply in &replies {
        let to = reply["to"].as_str().unwrap_or("");
        let text = reply["text"].as_str().unwrap_or("");
        let was_held = held_before.contains(&reply["seq"].as_u64().unwrap_or(0));
        let text = if was_held {
            format!("(held until now, released by this message) {text}")
        } else {
            text.to_owned()
        };
        if to == me {
            println!("← {}", text.replace('\n', "\n  "));
        } else {
            println!("⇢ to {to}: {}", text.replace('\n', "\n  "));
        }
    }
    Ok(())
}

/// A BSUID (has a dot) or a phone, as wa_id digits.
fn sender(from: &str) -> anyhow::Result<(Option<String>, Option<String>)> {
    if from.contains('.') {
        return Ok((None, Some(from.trim().to_owned())));
    }
    let digits: String = from.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 {
        bail!("--from {from:?} is neither a phone number nor a BSUID");
    }
    Ok((Some(digits), None))
}

fn payload(args: &Args, number: &str, wa_id: Option<&str>, bsuid: Option<&str>) -> Value {
    // A client's own clock, as a phone's would be.
    let now = crate::clock::wall_ms() / 1000;
    let mut message = json!({
        "id": format!("wamid.sim.{}", uuid::Uuid::new_v4().simple()),
        "timestamp": now.to_string(),
    });
    let mut contact = json!({"profile": {"name": "Simulator"}});
    if let Some(wa_id) = wa_id {
        message["from"] = json!(wa_id);
        contact["wa_id"] = json!(wa_id);
    }
    if let Some(bsuid) = bsuid {
        message["from_user_id"] = json!(bsuid);
        contact["user_id"] = json!(bsuid);
    }
    match (&args.text, &args.button) {
        (Some(text), _) => {
            message["type"] = json!("text");
            message["text"] = json!({"body": text});
        }
        (None, Some(id)) => {
            message["type"] = json!("interactive");
            message["interactive"] =
                json!({"type": "button_reply", "button_reply": {"id": id, "title": "(simulated)"}});
        }
        (None, None) => unreachable!("clap requires --text or --button"),
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "0",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000000", "phone_number_id": number},
                    "contacts": [contact],
                    "messages": [message],
                }
            }]
        }]
    })
}

/// `GET {base}{path}` of a dev server, as JSON.
fn dev_get(agent: &ureq::Agent, base: &str, path: &str) -> anyhow::Result<Value> {
    let url = format!("{base}{path}");
    let mut response = agent
        .get(&url)
        .call()
        .with_context(|| format!("reading {url} ({START_HINT})"))?;
    if response.status().as_u16() != 200 {
        bail!(
            "{url} answered {} (is the server running with --dev?)",
            response.status()
        );
    }
    let text = response.body_mut().read_to_string()?;
    serde_json::from_str(&text).with_context(|| format!("reading {url}"))
}

fn messages_after(agent: &ureq::Agent, base: &str, after: u64) -> anyhow::Result<Vec<Value>> {
    let list = dev_get(agent, base, &format!("/dev/messages?after={after}"))?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

/// The newest kept reply's seq, so only answers to this message are
/// shown, and the seqs of the messages held now, so that those this
/// message releases are shown too.
fn last_seq(
    agent: &ureq::Agent,
    base: &str,
) -> anyhow::Result<(u64, std::collections::HashSet<u64>)> {
    let mut last = 0;
    let mut held = std::collections::HashSet::new();
    loop {
        let page = messages_after(agent, base, last)?;
        held.extend(
            page.iter()
                .filter(|m| m["state"] == "held")
                .filter_map(|m| m["seq"].as_u64()),
        );
        match page.last().and_then(|m| m["seq"].as_u64()) {
            Some(seq) => last = seq,
            None => return Ok((last, held)),
        }
        if page.len() < 200 {
            return Ok((last, held));
        }
    }
}

/// The messages held before that are held no more.
fn released(
    agent: &ureq::Agent,
    base: &str,
    held_before: &std::collections::HashSet<u64>,
) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for seq in held_before {
        let page = messages_after(agent, base, seq - 1)?;
        if let Some(m) = page.first()
            && m["seq"].as_u64() == Some(*seq)
            && m["state"] != "held"
        {
            out.push(m.clone());
        }
    }
    out.sort_by_key(|m| m["seq"].as_u64());
    Ok(out)
}

/// The business number of the firm named `firm` (its id or name, in any
/// case), as the server has it.
fn firm_number(agent: &ureq::Agent, base: &str, firm: &str) -> anyhow::Result<String> {
    let firms = dev_get(agent, base, "/dev/firms")?;
    let wanted = firm.trim().to_lowercase();
    let found = firms.as_array().into_iter().flatten().find(|f| {
        f["id"].as_str() == Some(wanted.as_str())
            || f["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase() == wanted)
    });
    let Some(found) = found else {
        let names: Vec<&str> = firms
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["name"].as_str())
            .collect();
        bail!(
            "no firm {firm:?} on the server (it has: {})",
            names.join(", ")
        );
    };
    Ok(found["phone_number_id"]
        .as_str()
        .map_or_else(|| UNOWNED_NUMBER.to_owned(), str::to_owned))
}
