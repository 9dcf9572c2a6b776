//! Every sentence the bot says, in one catalog with an entry per language
//! (DESIGN section 12): English, Brazilian Portuguese and Spanish. A
//! missing entry is a compile error (one `match` per language), and a test
//! walks every entry through the WhatsApp limits.
//!
//! The language of a firm comes from its country (BR, PT → `pt_BR`;
//! Spanish-speaking countries → `es`; otherwise `en`); a stranger on the
//! shared number is answered in the language of their country code.

pub use crate::domain::Lang;

/// One thing the bot says, with what it needs.
#[derive(Debug, Clone, Copy)]
pub enum Text<'a> {
    Gone,
    Hint,
    OnlyDesigner,
    YourProjects,
    NoProjectsYet,
    WhichStudio,
    AlsoClientOn,
    ClientHelp,
    DesignerHelp {
        statuses: &'a str,
    },
    NoneAwaiting {
        project: &'a str,
    },
    TapToApprove {
        project: &'a str,
    },
    NoPendingToReady {
        project: &'a str,
    },
    TapToReady {
        project: &'a str,
    },
    AlreadyApproved {
        title: &'a str,
    },
    NotReadyYet {
        title: &'a str,
    },
    Approved {
        title: &'a str,
        project: &'a str,
    },
    TheClient,
    ClientApproved {
        client: &'a str,
        title: &'a str,
        project: &'a str,
    },
    AlreadyWaiting {
        title: &'a str,
    },
    NoClientPhone {
        project: &'a str,
        title: &'a str,
    },
    SentForApproval {
        title: &'a str,
        project: &'a str,
    },
    ReadyForApproval {
        project: &'a str,
        title: &'a str,
    },
    NoMilestonesYet,
    Progress {
        approved: usize,
        awaiting: usize,
        pending: usize,
        total: usize,
    },
    UnknownStatus {
        wanted: &'a str,
        statuses: &'a str,
    },
    AlreadyStatus {
        project: &'a str,
        status: &'a str,
    },
    NowStatus {
        project: &'a str,
        status: &'a str,
    },
    YourProjectNow {
        project: &'a str,
        status: &'a str,
    },
    /// Button and list labels.
    ApproveButton,
    ApproveMilestonesButton,
    MarkReadyButton,
    MoreRow,
    ListButton,
    ListSection,
}

pub fn say(lang: Lang, text: Text) -> String {
    match lang {
        Lang::En => en(text),
        Lang::PtBr => pt_br(text),
        Lang::Es => es(text),
    }
}

/// `n` and the word in its form for `n`, by each language's plural rule
/// (CLDR): English and Spanish take the singular for 1 only, Portuguese
/// for 0 and 1 ("0 pendente", "1 pendente", "2 pendentes").
fn plural(lang: Lang, n: usize, one: &str, other: &str) -> String {
    let singular = match lang {
        Lang::PtBr => n <= 1,
        Lang::En | Lang::Es => n == 1,
    };
    format!("{n} {}", if singular { one } else { other })
}

fn en(text: Text) -> String {
    use Text::*;
    match text {
        Gone => "That item is no longer available.".into(),
        Hint => "Hello! We don't recognise this number yet. Ask your designer or studio to add \
                 it, then message us again."
            .into(),
        OnlyDesigner => "Only the designer can update project status.".into(),
        YourProjects => "Your projects:".into(),
        NoProjectsYet => "You have no projects yet.".into(),
        WhichStudio => "You have projects with more than one studio. Which one?".into(),
        AlsoClientOn => "You are also a client on:".into(),
        ClientHelp => "Tap the buttons to see your project and approve milestones. Send any \
                       message to see your project again."
            .into(),
        DesignerHelp { statuses } => format!(
            "Commands:\n/projects – your projects\n/status <Status> – set your current \
             project's status ({statuses})\n/milestones – your current project's milestones\n\
             /ready – send a milestone to the client for approval\nhelp – this message"
        ),
        NoneAwaiting { project } => {
            format!("{project}: no milestones are waiting for your approval.")
        }
        TapToApprove { project } => format!("{project}: tap a milestone to approve it."),
        NoPendingToReady { project } => {
            format!("{project}: no pending milestones to mark ready.")
        }
        TapToReady { project } => {
            format!("{project}: tap a milestone to send it to the client for approval.")
        }
        AlreadyApproved { title } => format!("\"{title}\" is already approved."),
        NotReadyYet { title } => format!("\"{title}\" is not ready for approval yet."),
        Approved { title, project } => format!("Approved \"{title}\" on {project}. Thank you!"),
        TheClient => "The client".into(),
        ClientApproved {
            client,
            title,
            project,
        } => format!("{client} approved \"{title}\" on {project}."),
        AlreadyWaiting { title } => {
            format!("\"{title}\" is already waiting for the client's approval.")
        }
        NoClientPhone { project, title } => {
            format!("{project} has no client phone, so \"{title}\" cannot be sent for approval.")
        }
        SentForApproval { title, project } => {
            format!("Sent \"{title}\" on {project} to the client for approval.")
        }
        ReadyForApproval { project, title } => {
            format!("{project}: \"{title}\" is ready for your approval.")
        }
        NoMilestonesYet => "No milestones yet.".into(),
        Progress {
            approved,
            awaiting,
            pending,
            total,
        } => format!(
            "Milestones: {approved} approved, {awaiting} awaiting approval, {pending} pending \
             of {total}."
        ),
        UnknownStatus { wanted, statuses } => {
            format!("Unknown status \"{wanted}\". Use one of: {statuses}.")
        }
        AlreadyStatus { project, status } => format!("{project} is already {status}."),
        NowStatus { project, status } => format!("{project} is now {status}."),
        YourProjectNow { project, status } => format!("Your project {project} is now {status}."),
        ApproveButton => "Approve".into(),
        ApproveMilestonesButton => "Approve milestones".into(),
        MarkReadyButton => "Mark ready".into(),
        MoreRow => "More…".into(),
        ListButton => "Choose".into(),
        ListSection => "Options".into(),
    }
}

fn pt_br(text: Text) -> String {
    use Text::*;
    match text {
        Gone => "Este item não está mais disponível.".into(),
        Hint => "Olá! Ainda não reconhecemos este número. Peça ao seu arquiteto ou escritório \
                 para cadastrá-lo e depois mande uma mensagem de novo."
            .into(),
        OnlyDesigner => "Só o arquiteto responsável pode mudar o status do projeto.".into(),
        YourProjects => "Seus projetos:".into(),
        NoProjectsYet => "Você ainda não tem projetos.".into(),
        WhichStudio => "Você tem projetos com mais de um escritório. Qual deles?".into(),
        AlsoClientOn => "Você também é cliente em:".into(),
        ClientHelp => "Toque nos botões para ver seu projeto e aprovar etapas. Mande qualquer \
                       mensagem para ver seu projeto de novo."
            .into(),
        DesignerHelp { statuses } => format!(
            "Comandos:\n/projects – seus projetos\n/status <Status> – muda o status do projeto \
             atual ({statuses})\n/milestones – as etapas do projeto atual\n/ready – envia uma \
             etapa para o cliente aprovar\nhelp – esta mensagem"
        ),
        NoneAwaiting { project } => {
            format!("{project}: nenhuma etapa está aguardando a sua aprovação.")
        }
        TapToApprove { project } => format!("{project}: toque em uma etapa para aprová-la."),
        NoPendingToReady { project } => {
            format!("{project}: não há etapas pendentes para liberar.")
        }
        TapToReady { project } => {
            format!("{project}: toque em uma etapa para enviá-la ao cliente para aprovação.")
        }
        AlreadyApproved { title } => format!("\"{title}\" já está aprovada."),
        NotReadyYet { title } => format!("\"{title}\" ainda não está pronta para aprovação."),
        Approved { title, project } => {
            format!("\"{title}\" aprovada no projeto {project}. Obrigado!")
        }
        TheClient => "O cliente".into(),
        ClientApproved {
            client,
            title,
            project,
        } => format!("{client} aprovou \"{title}\" no projeto {project}."),
        AlreadyWaiting { title } => {
            format!("\"{title}\" já está aguardando a aprovação do cliente.")
        }
        NoClientPhone { project, title } => format!(
            "{project} não tem telefone do cliente, então \"{title}\" não pode ser enviada para \
             aprovação."
        ),
        SentForApproval { title, project } => {
            format!("\"{title}\" do projeto {project} foi enviada ao cliente para aprovação.")
        }
        ReadyForApproval { project, title } => {
            format!("{project}: \"{title}\" está pronta para a sua aprovação.")
        }
        NoMilestonesYet => "Ainda não há etapas.".into(),
        Progress {
            approved,
            awaiting,
            pending,
            total,
        } => format!(
            "Etapas: {}, {awaiting} aguardando aprovação, {} de {total}.",
            plural(Lang::PtBr, approved, "aprovada", "aprovadas"),
            plural(Lang::PtBr, pending, "pendente", "pendentes"),
        ),
        UnknownStatus { wanted, statuses } => {
            format!("Status \"{wanted}\" desconhecido. Use um destes: {statuses}.")
        }
        AlreadyStatus { project, status } => format!("{project} já está em {status}."),
        NowStatus { project, status } => format!("{project} agora está em {status}."),
        YourProjectNow { project, status } => {
            format!("Seu projeto {project} agora está em {status}.")
        }
        ApproveButton => "Aprovar".into(),
        ApproveMilestonesButton => "Aprovar etapas".into(),
        MarkReadyButton => "Liberar etapa".into(),
        MoreRow => "Mais…".into(),
        ListButton => "Escolher".into(),
        ListSection => "Opções".into(),
    }
}

fn es(text: Text) -> String {
    use Text::*;
    match text {
        Gone => "Este elemento ya no está disponible.".into(),
        Hint => "¡Hola! Todavía no reconocemos este número. Pídele a tu diseñador o estudio \
                 que lo registre y vuelve a escribirnos."
            .into(),
        OnlyDesigner => "Solo el diseñador puede cambiar el estado del proyecto.".into(),
        YourProjects => "Tus proyectos:".into(),
        NoProjectsYet => "Todavía no tienes proyectos.".into(),
        WhichStudio => "Tienes proyectos con más de un estudio. ¿Con cuál?".into(),
        AlsoClientOn => "También eres cliente en:".into(),
        ClientHelp => "Toca los botones para ver tu proyecto y aprobar etapas. Envía cualquier \
                       mensaje para volver a ver tu proyecto."
            .into(),
        DesignerHelp { statuses } => format!(
            "Comandos:\n/projects – tus proyectos\n/status <Estado> – cambia el estado del \
             proyecto actual ({statuses})\n/milestones – las etapas del proyecto actual\n\
             /ready – envía una etapa al cliente para que la apruebe\nhelp – este mensaje"
        ),
        NoneAwaiting { project } => {
            format!("{project}: no hay etapas esperando tu aprobación.")
        }
        TapToApprove { project } => format!("{project}: toca una etapa para aprobarla."),
        NoPendingToReady { project } => {
            format!("{project}: no hay etapas pendientes para enviar.")
        }
        TapToReady { project } => {
            format!("{project}: toca una etapa para enviarla al cliente y que la apruebe.")
        }
        AlreadyApproved { title } => format!("\"{title}\" ya está aprobada."),
        NotReadyYet { title } => format!("\"{title}\" todavía no está lista para aprobar."),
        Approved { title, project } => {
            format!("Aprobaste \"{title}\" en {project}. ¡Gracias!")
        }
        TheClient => "El cliente".into(),
        ClientApproved {
            client,
            title,
            project,
        } => format!("{client} aprobó \"{title}\" en {project}."),
        AlreadyWaiting { title } => {
            format!("\"{title}\" ya está esperando la aprobación del cliente.")
        }
        NoClientPhone { project, title } => format!(
            "{project} no tiene teléfono del cliente, así que no se puede enviar \"{title}\" \
             para su aprobación."
        ),
        SentForApproval { title, project } => {
            format!("Enviamos \"{title}\" de {project} al cliente para que la apruebe.")
        }
        ReadyForApproval { project, title } => {
            format!("{project}: \"{title}\" está lista para que la apruebes.")
        }
        NoMilestonesYet => "Todavía no hay etapas.".into(),
        Progress {
            approved,
            awaiting,
            pending,
            total,
        } => format!(
            "Etapas: {}, {awaiting} esperando aprobación, {} de {total}.",
            plural(Lang::Es, approved, "aprobada", "aprobadas"),
            plural(Lang::Es, pending, "pendiente", "pendientes"),
        ),
        UnknownStatus { wanted, statuses } => {
            format!("No conozco el estado \"{wanted}\". Usa uno de estos: {statuses}.")
        }
        AlreadyStatus { project, status } => format!("{project} ya está en {status}."),
        NowStatus { project, status } => format!("{project} ahora está en {status}."),
        YourProjectNow { project, status } => {
            format!("Tu proyecto {project} ahora está en {status}.")
        }
        ApproveButton => "Aprobar".into(),
        ApproveMilestonesButton => "Aprobar etapas".into(),
        MarkReadyButton => "Enviar etapa".into(),
        MoreRow => "Más…".into(),
        ListButton => "Elegir".into(),
        ListSection => "Opciones".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Country, Phone};
    use crate::whatsapp::outbound::{
        BUTTON_TITLE_MAX, BUTTONS_BODY_MAX, LIST_BUTTON_MAX, ROW_TITLE_MAX, TEXT_MAX,
    };

    /// Every entry, with parameters as long as real ones get.
    fn every_text<'a>(long: &'a str) -> Vec<Text<'a>> {
        use Text::*;
        vec![
            Gone,
            Hint,
            OnlyDesigner,
            YourProjects,
            NoProjectsYet,
            WhichStudio,
            AlsoClientOn,
            ClientHelp,
            DesignerHelp { statuses: long },
            NoneAwaiting { project: long },
            TapToApprove { project: long },
            NoPendingToReady { project: long },
            TapToReady { project: long },
            AlreadyApproved { title: long },
            NotReadyYet { title: long },
            Approved {
                title: long,
                project: long,
            },
            TheClient,
            ClientApproved {
                client: long,
                title: long,
                project: long,
            },
            AlreadyWaiting { title: long },
            NoClientPhone {
                project: long,
                title: long,
            },
            SentForApproval {
                title: long,
                project: long,
            },
            ReadyForApproval {
                project: long,
                title: long,
            },
            NoMilestonesYet,
            Progress {
                approved: 100,
                awaiting: 100,
                pending: 100,
                total: 300,
            },
            UnknownStatus {
                wanted: long,
                statuses: long,
            },
            AlreadyStatus {
                project: long,
                status: long,
            },
            NowStatus {
                project: long,
                status: long,
            },
            YourProjectNow {
                project: long,
                status: long,
            },
            ApproveButton,
            ApproveMilestonesButton,
            MarkReadyButton,
            MoreRow,
            ListButton,
            ListSection,
        ]
    }

    /// Issue 23: "1 aprovadas", "1 pendientes". Each language's plural
    /// form, for 0, 1 and 2.
    #[test]
    fn counts_take_each_languages_plural_form() {
        let progress = |lang, n| {
            say(
                lang,
                Text::Progress {
                    approved: n,
                    awaiting: n,
                    pending: n,
                    total: 3 * n,
                },
            )
        };
        for (lang, n, said) in [
            (
                Lang::PtBr,
                0,
                "Etapas: 0 aprovada, 0 aguardando aprovação, 0 pendente de 0.",
            ),
            (
                Lang::PtBr,
                1,
                "Etapas: 1 aprovada, 1 aguardando aprovação, 1 pendente de 3.",
            ),
            (
                Lang::PtBr,
                2,
                "Etapas: 2 aprovadas, 2 aguardando aprovação, 2 pendentes de 6.",
            ),
            (
                Lang::Es,
                0,
                "Etapas: 0 aprobadas, 0 esperando aprobación, 0 pendientes de 0.",
            ),
            (
                Lang::Es,
                1,
                "Etapas: 1 aprobada, 1 esperando aprobación, 1 pendiente de 3.",
            ),
            (
                Lang::Es,
                2,
                "Etapas: 2 aprobadas, 2 esperando aprobación, 2 pendientes de 6.",
            ),
        ] {
            assert_eq!(progress(lang, n), said, "{lang:?} {n}");
        }
        for n in [0, 1, 2] {
            assert_eq!(
                progress(Lang::En, n),
                format!(
                    "Milestones: {n} approved, {n} awaiting approval, {n} pending of {}.",
                    3 * n
                )
            );
        }
    }

    /// Issue 23: every sentence ends with a full stop (or `!`, `?`); only
    /// the labels of buttons, rows and sections do not.
    #[test]
    fn every_sentence_ends_with_a_full_stop() {
        let mut bad = Vec::new();
        for lang in Lang::ALL {
            for text in every_text("Hampstead Bath") {
                let label = matches!(
                    text,
                    Text::ApproveButton
                        | Text::ApproveMilestonesButton
                        | Text::MarkReadyButton
                        | Text::MoreRow
                        | Text::ListButton
                        | Text::ListSection
                        // A list of commands, one per line, not sentences.
                        | Text::DesignerHelp { .. }
                        // A name, put into sentences.
                        | Text::TheClient
                );
                let said = say(lang, text);
                let ends = said.trim_end().ends_with(['.', '!', '?', ':', ')']);
                if !label && !ends {
                    bad.push(format!("{lang:?} {text:?}: {said:?}"));
                }
            }
        }
        assert!(bad.is_empty(), "{bad:#?}");
    }

    #[test]
    fn every_entry_in_every_language_is_within_the_whatsapp_limits() {
        // Project names and titles of 100 characters.
        let long = "x".repeat(100);
        for lang in Lang::ALL {
            for text in every_text(&long) {
                let said = say(lang, text);
                let chars = said.chars().count();
                assert!(!said.trim().is_empty(), "{lang:?} {text:?} is empty");
                let max = match text {
                    Text::ApproveButton | Text::ApproveMilestonesButton | Text::MarkReadyButton => {
                        BUTTON_TITLE_MAX
                    }
                    Text::ListButton => LIST_BUTTON_MAX,
                    Text::MoreRow | Text::ListSection => ROW_TITLE_MAX,
                    // Bodies of messages with buttons are the tightest.
                    _ => BUTTONS_BODY_MAX.min(TEXT_MAX),
                };
                assert!(chars <= max, "{lang:?} {text:?}: {chars} > {max}: {said}");
            }
        }
    }

    #[test]
    fn languages_come_from_the_country_and_the_calling_code() {
        let country = |c| Country::parse(c).unwrap();
        assert_eq!(Lang::of_country(country("BR")), Lang::PtBr);
        assert_eq!(Lang::of_country(country("MX")), Lang::Es);
        assert_eq!(Lang::of_country(country("AR")), Lang::Es);
        assert_eq!(Lang::of_country(country("GB")), Lang::En);
        assert_eq!(Lang::of_country(country("DE")), Lang::En);
        let phone = |p| Phone::from_wa_id(p).unwrap();
        assert_eq!(Lang::of_phone(phone("5511987654321")), Lang::PtBr);
        assert_eq!(Lang::of_phone(phone("5215512345678")), Lang::Es);
        assert_eq!(Lang::of_phone(phone("447911123456")), Lang::En);
        assert_eq!(Lang::parse("pt_BR"), Some(Lang::PtBr));
    }
}
