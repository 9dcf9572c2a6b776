//! Resolver cases: a world, a sender, and the expected `--explain` text,
//! with fixture ids shown as their names.

use expect_test::{Expect, expect};
use firmhook::domain::Phone;
use firmhook::resolve::resolve;

use crate::support::world;

/// Two studios and a contractor; every outcome is reachable.
const WORLD: &str = "
    firm alba GB number=111
    firm verde BR number=222
    firm nord DE
    member alba olivia +447911123456
    member alba tom
    member alba priya +447911222333
    member verde marcos +5511987654321
    member nord jonas +4915123456789
    member verde jonas2 +4915123456789
    project alba kitchen at=2026-01-10 client=+447911123401 designer=olivia
    project alba loft at=2026-03-05 client=+447911123402 designer=olivia
    project alba bath at=2026-02-01 client=+447911123403 designer=tom legacy=+447911123499
    project alba flat at=2026-04-01 client=+4915123456789 designer=olivia
    project verde jardins at=2026-02-10 client=+5511998765432 designer=marcos
    project verde praia at=2026-05-01 client=+447911123401 designer=marcos
    project verde casa at=2026-06-01 client=+525512345678 legacy=+541145551234
    project nord altbau at=2026-01-20 client=+4915112345678 designer=jonas
    project nord dach at=2025-11-15 client=+4930901820 legacy=+491701234567
    project nord keller at=2026-07-01 legacy=+491701234567
    project alba annex at=2026-08-01 legacy=+491701234567
";

fn check(phone: &str, phone_number_id: Option<u64>, expect: Expect) {
    let (store, names) = world(WORLD);
    let phone = Phone::parse_international(phone).unwrap();
    let resolution = resolve(&store.read().unwrap(), phone, phone_number_id).unwrap();
    expect.assert_eq(&names.apply(&resolution.to_string()));
}

#[test]
fn member_phone_is_a_designer_on_their_most_recent_project() {
    check(
        "447911123456",
        None,
        expect![[r#"
            pass 0   looked up: no phone_number_id given
                      found:     all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +447911123456
                      found:     member olivia of firm alba
            pass 1.5 looked up: -
                      found:     not reached: decided by pass 1
            pass 2   looked up: -
                      found:     not reached: decided by pass 1
            pass 3   looked up: -
                      found:     not reached: decided by pass 1
            => designer of firm alba, project flat"#]],
    );
}

#[test]
fn legacy_designer_phone_is_found_by_pass_one_and_a_half() {
    check(
        "+44 7911 123499",
        None,
        expect![[r#"
            pass 0   looked up: no phone_number_id given
                      found:     all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +447911123499
                      found:     nothing
            pass 1.5 looked up: phone_roles legacy designer (projects.designer_phone) +447911123499
                      found:     project bath of firm alba
            pass 2   looked up: -
                      found:     not reached: decided by pass 1.5
            pass 3   looked up: -
                      found:     not reached: decided by pass 1.5
            => designer of firm alba, project bath"#]],
    );
}

#[test]
fn member_without_projects_is_a_designer_with_no_project() {
    check(
        "447911222333",
        None,
        expect![[r#"
            pass 0   looked up: no phone_number_id given
                      found:     all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +447911222333
                      found:     member priya of firm alba
            pass 1.5 looked up: -
                      found:     not reached: decided by pass 1
            pass 2   looked up: -
                      found:     not reached: decided by pass 1
            pass 3   looked up: -
                      found:     not reached: decided by pass 1
            => designer of firm alba, no project"#]],
    );
}

#[test]
fn designer_in_two_firms_is_ambiguous_with_one_match_per_firm() {
    // jonas is a member of nord and of verde (no project there), and also
    // a client of alba: pass 1 decides, so he is a designer for free text.
    check(
        "4915123456789",
        None,
        expect![[r#"
            pass 0   looked up: no phone_number_id given
                      found:     all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +4915123456789
                      found:     member jonas2 of firm verde; member jonas of firm nord
            pass 1.5 looked up: -
                      found:     not reached: decided by pass 1
            pass 2   looked up: -
                      found:     not reached: decided by pass 1
            pass 3   looked up: -
                      found:     not reached: decided by pass 1
            => ambiguous, 2 matches:
               designer of firm verde, no project (verde)
               designer of firm nord, altbau (altbau)"#]],
    );
}

#[test]
fn firm_number_scopes_a_multi_firm_designer_to_that_firm() {
    check(
        "4915123456789",
        Some(222),
        expect![[r#"
            pass 0   looked up: firm_by_number 222
                      found:     firm verde (verde): only that firm is searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +4915123456789 in firm verde
                      found:     member jonas2 of firm verde
            pass 1.5 looked up: -
                      found:     not reached: decided by pass 1
            pass 2   looked up: -
                      found:     not reached: decided by pass 1
            pass 3   looked up: -
                      found:     not reached: decided by pass 1
            => designer of firm verde, no project"#]],
    );
}

#[test]
fn legacy_designer_in_two_firms_is_ambiguous_newest_project_per_firm() {
    check(
        "+49 170 1234567",
        None,
        expect![[r#"
            pass 0   looked up: no phone_number_id given
                      found:     all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +491701234567
                      found:     nothing
            pass 1.5 looked up: phone_roles legacy designer (projects.designer_phone) +491701234567
                      found:     project annex of firm alba; project keller of firm nord; project dach of firm nord
            pass 2   looked up: -
                      found:     not reached: decided by pass 1.5
            pass 3   looked up: -
                      found:     not reached: decided by pass 1.5
            => ambiguous, 2 matches:
               designer of firm alba, annex (annex)
               designer of firm nord, keller (keller)"#]],
    );
}

#[test]
fn client_with_one_project_is_that_projects_client() {
    check(
        "447911123403",
        None,
        expect![[r#"
            pass 0   looked up: no phone_number_id given
                      found:     all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +447911123403
                      found:     nothing
            pass 1.5 looked up: phone_roles legacy designer (projects.designer_phone) +447911123403
                      found:     nothing
            pass 2   looked up: phone_roles client (projects.client_phone) +447911123403
                      found:     project bath of firm alba
            pass 3   looked up: -
                      found:     not reached: decided by pass 2
            => client of firm alba, project bath"#]],
    );
}

#[test]
fn client_in_two_firms_is_ambiguous_unless_the_number_names_the_firm() {
    check(
        "447911123401",
        None,
        expect![[r#"
            pass 0   looked up: no phone_number_id given
                      found:     all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +447911123401
                      found:     nothing
            pass 1.5 looked up: phone_roles legacy designer (projects.designer_phone) +447911123401
                      found:     nothing
            pass 2   looked up: phone_roles client (projects.client_phone) +447911123401
                      found:     project kitchen of firm alba; project praia of firm verde
            pass 3   looked up: -
                      found:     not reached: decided by pass 2
            => ambiguous, 2 matches:
               client of firm alba, kitchen (kitchen)
               client of firm verde, praia (praia)"#]],
    );
    check(
        "447911123401",
        Some(111),
        expect![[r#"
            pass 0   looked up: firm_by_number 111
                      found:     firm alba (alba): only that firm is searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +447911123401 in firm alba
                      found:     nothing
            pass 1.5 looked up: phone_roles legacy designer (projects.designer_phone) +447911123401 in firm alba
                      found:     nothing
            pass 2   looked up: phone_roles client (projects.client_phone) +447911123401 in firm alba
                      found:     project kitchen of firm alba
            pass 3   looked up: -
                      found:     not reached: decided by pass 2
            => client of firm alba, project kitchen"#]],
    );
}

#[test]
fn a_number_no_firm_owns_does_not_restrict_the_search() {
    check(
        "447911123403",
        Some(999),
        expect![[r#"
            pass 0   looked up: firm_by_number 999
                      found:     no firm has this number: all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +447911123403
                      found:     nothing
            pass 1.5 looked up: phone_roles legacy designer (projects.designer_phone) +447911123403
                      found:     nothing
            pass 2   looked up: phone_roles client (projects.client_phone) +447911123403
                      found:     project bath of firm alba
            pass 3   looked up: -
                      found:     not reached: decided by pass 2
            => client of firm alba, project bath"#]],
    );
}

#[test]
fn firm_scope_hides_other_firms_clients() {
    check(
        "447911123403",
        Some(222),
        expect![[r#"
            pass 0   looked up: firm_by_number 222
                      found:     firm verde (verde): only that firm is searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +447911123403 in firm verde
                      found:     nothing
            pass 1.5 looked up: phone_roles legacy designer (projects.designer_phone) +447911123403 in firm verde
                      found:     nothing
            pass 2   looked up: phone_roles client (projects.client_phone) +447911123403 in firm verde
                      found:     nothing
            pass 3   looked up: no pass matched
                      found:     unknown sender: answer with the registration hint
            => unknown"#]],
    );
}

#[test]
fn stranger_is_unknown_after_every_pass_misses() {
    check(
        "14155552671",
        None,
        expect![[r#"
            pass 0   looked up: no phone_number_id given
                      found:     all firms are searched
            pass 1   looked up: phone_roles member (whatsapp_phone) +14155552671
                      found:     nothing
            pass 1.5 looked up: phone_roles legacy designer (projects.designer_phone) +14155552671
                      found:     nothing
            pass 2   looked up: phone_roles client (projects.client_phone) +14155552671
                      found:     nothing
            pass 3   looked up: no pass matched
                      found:     unknown sender: answer with the registration hint
            => unknown"#]],
    );
}

/// The outcome line alone, for the country-quirk cases.
fn outcome(phone: &str) -> String {
    let (store, names) = world(WORLD);
    let phone = Phone::parse_international(phone).unwrap();
    let resolution = resolve(&store.read().unwrap(), phone, None).unwrap();
    let text = names.apply(&resolution.to_string());
    text.lines().last().unwrap().to_owned()
}

#[test]
fn whatsapp_country_quirks_resolve_to_the_stored_person() {
    // Brazil: wa_id without the ninth digit.
    assert_eq!(
        outcome("551187654321"),
        "=> designer of firm verde, project praia"
    );
    assert_eq!(
        outcome("5511987654321"),
        "=> designer of firm verde, project praia"
    );
    assert_eq!(
        outcome("551198765432"),
        "=> client of firm verde, project jardins"
    );
    assert_eq!(outcome("551199876543"), "=> unknown");
    // Mexico: 521 + 10 digits.
    assert_eq!(
        outcome("5215512345678"),
        "=> client of firm verde, project casa"
    );
    // Argentina: 549 + 10 digits.
    assert_eq!(
        outcome("5491145551234"),
        "=> designer of firm verde, project casa"
    );
}

#[test]
fn designer_project_is_the_newest_of_assigned_and_legacy_projects() {
    let (store, names) = world(
        "
        firm alba GB
        member alba olivia +447911123456
        project alba old at=2025-01-01 designer=olivia
        project alba newer at=2026-01-01 legacy=+447911123456
        project alba middle at=2025-06-01 designer=olivia
        ",
    );
    let phone = Phone::parse_international("447911123456").unwrap();
    let resolution = resolve(&store.read().unwrap(), phone, None).unwrap();
    let text = names.apply(&resolution.to_string());
    assert_eq!(
        text.lines().last().unwrap(),
        "=> designer of firm alba, project newer"
    );
}
