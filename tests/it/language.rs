//! The walkthrough's flows in Portuguese and Spanish: a firm's people are
//! answered in its language (from its country), notifications go out in
//! it, and a stranger on the shared number gets the hint in the language
//! of their country code.

use serde_json::json;

use crate::support::*;

const WAIT: std::time::Duration = std::time::Duration::from_secs(15);
const CASA_VERDE_NUMBER: &str = "106540352242933";
/// Ana Souza, client of Apartamento Jardins at Casa Verde (BR).
const ANA: &str = "5511998765432";
const MARCOS: &str = "5511987654321";
const MARCENARIA: &str = "0195a000-0000-7000-8000-0000000000c8";
const JARDINS: &str = "0195a000-0000-7000-8000-0000000000b5";
const TALLER: &str = "0195b000-0000-7000-8000-0000000000f9";
const SALA: &str = "0195b000-0000-7000-8000-0000000000b9";
const PLANOS: &str = "0195b000-0000-7000-8000-0000000000c9";
const LUCIA: &str = "5215512345678";
const DIEGO: &str = "5215598765432";

fn start() -> (tempfile::TempDir, FakeGraph, App) {
    let tmp = tempfile::tempdir().unwrap();
    let graph = FakeGraph::start();
    let app = spawn_app(&tmp.path().join("db.redb"), Some(&graph));
    (tmp, graph, app)
}

fn to(graph: &FakeGraph, phone: &str, n: usize) -> Vec<GraphRequest> {
    graph.sent_to(phone, n, WAIT)
}

#[test]
fn a_brazilian_firm_speaks_portuguese() {
    let (_tmp, graph, app) = start();
    app.open_window(CASA_VERDE_NUMBER, MARCOS);
    let hi = webhook(CASA_VERDE_NUMBER, &[("wamid.pt1", ANA, "text:oi")]);
    assert_eq!(app.post(&hi).0, 200);
    let summary = &to(&graph, ANA, 1)[0];
    assert!(
        summary
            .text()
            .starts_with("Apartamento Jardins — Active\nEtapas:"),
        "{}",
        summary.text()
    );
    let list = webhook(
        CASA_VERDE_NUMBER,
        &[("wamid.pt2", ANA, &format!("button:do_approve:{JARDINS}"))],
    );
    assert_eq!(app.post(&list).0, 200);
    let prompt = &to(&graph, ANA, 2)[1];
    assert_eq!(
        prompt.text(),
        "Apartamento Jardins: toque em uma etapa para aprová-la."
    );
    let tap = webhook(
        CASA_VERDE_NUMBER,
        &[("wamid.pt3", ANA, &format!("button:mil:{MARCENARIA}"))],
    );
    assert_eq!(app.post(&tap).0, 200);
    let done = &to(&graph, ANA, 3)[2];
    assert_eq!(
        done.text(),
        "\"Marcenaria\" aprovada no projeto Apartamento Jardins. Obrigado!"
    );
    let notice = &to(&graph, MARCOS, 1)[0];
    assert_eq!(
        notice.text(),
        "Ana Souza aprovou \"Marcenaria\" no projeto Apartamento Jardins."
    );
    // A designer command from a client is refused in Portuguese too.
    let status = webhook(
        CASA_VERDE_NUMBER,
        &[("wamid.pt4", ANA, "text:/status Lead")],
    );
    assert_eq!(app.post(&status).0, 200);
    assert_eq!(
        to(&graph, ANA, 4)[3].text(),
        "Só o arquiteto responsável pode mudar o status do projeto."
    );
}

#[test]
fn a_mexican_firm_speaks_spanish() {
    let (_tmp, graph, app) = start();
    let put = |path: String, body: serde_json::Value| {
        let (status, answer) = api(&app, "PUT", &path, Some(ADMIN), Some(&body));
        assert!(status == 200 || status == 201, "{path}: {answer}");
    };
    put(
        format!("/api/v1/firms/{TALLER}"),
        json!({"name": "Taller Norte", "country": "MX", "phone_number_id": "555000222"}),
    );
    put(
        format!("/api/v1/firms/{TALLER}/members/0195b000-0000-7000-8000-0000000000a9"),
        json!({"name": "Diego", "whatsapp_phone": "55 9876 5432"}),
    );
    put(
        format!("/api/v1/firms/{TALLER}/projects/{SALA}"),
        json!({"name": "Sala Roma", "status": "Active", "client_name": "Lucía",
               "client_phone": "55 1234 5678",
               "designer_member_id": "0195b000-0000-7000-8000-0000000000a9"}),
    );
    put(
        format!("/api/v1/firms/{TALLER}/projects/{SALA}/milestones/{PLANOS}"),
        json!({"title": "Planos", "status": "pending", "position": 1}),
    );
    app.open_window("555000222", LUCIA);
    let ready = webhook(
        "555000222",
        &[("wamid.es1", DIEGO, &format!("button:rdy:{PLANOS}"))],
    );
    assert_eq!(app.post(&ready).0, 200);
    let sent = &to(&graph, DIEGO, 1)[0];
    assert_eq!(
        sent.text(),
        "Enviamos \"Planos\" de Sala Roma al cliente para que la apruebe."
    );
    let prompt = &to(&graph, "525512345678", 1)[0];
    assert_eq!(
        prompt.text(),
        "Sala Roma: \"Planos\" está lista para que la apruebes."
    );
    assert_eq!(
        prompt.body["interactive"]["action"]["buttons"][0]["reply"]["title"],
        "Aprobar"
    );
    let tap = webhook(
        "555000222",
        &[("wamid.es2", LUCIA, &format!("button:mil:{PLANOS}"))],
    );
    assert_eq!(app.post(&tap).0, 200);
    let done = to(&graph, LUCIA, 1);
    assert_eq!(
        done[0].text(),
        "Aprobaste \"Planos\" en Sala Roma. ¡Gracias!"
    );
}

#[test]
fn a_stranger_gets_the_hint_in_the_language_of_their_country_code() {
    let (_tmp, graph, app) = start();
    for (wamid, from) in [
        ("wamid.h1", "5521912345678"),
        ("wamid.h2", "5493511234567"),
        ("wamid.h3", "14155552671"),
    ] {
        assert_eq!(
            app.post(&webhook(OTHER_NUMBER, &[(wamid, from, "text:hi")]))
                .0,
            200
        );
    }
    let hints = graph.wait_for(3, WAIT);
    let text_to = |phone: &str| {
        hints
            .iter()
            .find(|r| r.to() == phone)
            .map(|r| r.text())
            .unwrap_or_default()
    };
    assert!(text_to("5521912345678").starts_with("Olá! Ainda não reconhecemos"));
    assert!(text_to("5493511234567").starts_with("¡Hola! Todavía no reconocemos"));
    assert!(text_to("14155552671").starts_with("Hello! We don't recognise"));
}

#[test]
fn a_firms_language_setting_wins_over_its_country() {
    let (_tmp, graph, app) = start();
    // Studio Alba (GB) set to Spanish.
    let (status, firm) = api(
        &app,
        "PUT",
        "/api/v1/firms/0195a000-0000-7000-8000-0000000000f1",
        Some(ADMIN),
        Some(&json!({"name": "Studio Alba", "country": "GB",
                     "phone_number_id": "106540352242922", "language": "es"})),
    );
    assert_eq!(status, 200, "{firm}");
    assert_eq!(firm["language"], "es");
    let bad = api(
        &app,
        "PUT",
        "/api/v1/firms/0195a000-0000-7000-8000-0000000000f1",
        Some(ADMIN),
        Some(&json!({"name": "Studio Alba", "country": "GB", "language": "fr"})),
    );
    assert_eq!(bad.1["error"]["field"], "language");
    let hi = webhook(
        ALBA_NUMBER,
        &[("wamid.lang1", "447911123403", "text:/status Lead")],
    );
    assert_eq!(app.post(&hi).0, 200);
    let refusal = &to(&graph, "447911123403", 1)[0];
    assert_eq!(
        refusal.text(),
        "Solo el diseñador puede cambiar el estado del proyecto."
    );
}
