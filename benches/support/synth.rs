//! Synthetic data shaped like the real thing, for benches: firms of 1–50
//! members, clients with 1–3 projects, 5–20 milestones per project, phones
//! from seven countries written the way people write them (national and
//! international notation). Deterministic for a given seed.

#![allow(dead_code)] // each bench uses a different part

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// splitmix64: a few lines, good enough for shaping data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// (country, national pattern, international pattern, wa_id prefix); `#`
/// marks where the counter's digits go. All ranges are valid numbers.
pub const COUNTRIES: &[(&str, &str, &str, &str)] = &[
    ("GB", "07400 ######", "+44 7400 ######", "447400"),
    ("US", "(415) 7##-####", "+1 415 7##-####", "14157"),
    ("BR", "(11) 98###-####", "+55 11 98###-####", "551198"),
    ("MX", "55 ####-####", "+52 1 55 ####-####", "5255"),
    ("AR", "011 15 4###-####", "+54 9 11 4###-####", "54114"),
    ("DE", "0151 ########", "+49 151 ########", "49151"),
    ("IN", "98########", "+91 98########", "9198"),
];

/// The `n`th number of country `c`: (as a person writes it, as a wa_id).
pub fn phone(c: usize, n: u64, international: bool) -> (String, String) {
    let (_, national, intl, wa_prefix) = COUNTRIES[c];
    let pattern = if international { intl } else { national };
    let width = pattern.bytes().filter(|b| *b == b'#').count();
    let digits = format!("{:0width$}", n % 10u64.pow(width as u32));
    let mut it = digits.chars();
    let written: String = pattern
        .chars()
        .map(|ch| if ch == '#' { it.next().unwrap() } else { ch })
        .collect();
    (written, format!("{wa_prefix}{digits}"))
}

pub fn uuid(kind: u32, n: u64) -> String {
    format!("{kind:08x}-0000-7000-8000-{n:012x}")
}

/// Phones the benches look up, by what they should resolve to (benches
/// check the actual outcome before timing).
#[derive(Default)]
pub struct Samples {
    pub designers: Vec<String>,
    pub legacy_designers: Vec<String>,
    pub clients: Vec<String>,
    pub ambiguous: Vec<String>,
    /// (client wa_id, project id) of clients with one project: taps they
    /// may make.
    pub client_projects: Vec<(String, String)>,
}

#[derive(Default, Debug)]
pub struct Written {
    pub firms: u64,
    pub members: u64,
    pub projects: u64,
    pub milestones: u64,
}

impl Written {
    pub fn rows(&self) -> u64 {
        self.firms + self.members + self.projects + self.milestones
    }
}

const STATUSES: &[&str] = &["Lead", "Design", "Active", "On Hold", "Completed"];

/// Whether to write milestones (the resolver never reads them).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Milestones {
    /// 5 to 20 per project.
    With,
    Without,
    /// Exactly this many per project (the project-heavy mix).
    Each(u64),
}

/// Writes the four CSV files for about `projects` projects.
pub fn write_csv(
    dir: &Path,
    projects: u64,
    seed: u64,
    with: Milestones,
) -> std::io::Result<(Written, Samples)> {
    let open =
        |name: &str| File::create(dir.join(name)).map(|f| BufWriter::with_capacity(1 << 20, f));
    let mut firms = open("firms.csv")?;
    let mut members = open("firm_members.csv")?;
    let mut project_out = open("projects.csv")?;
    let mut milestones = open("milestones.csv")?;
    writeln!(firms, "id,name,country,phone_number_id")?;
    writeln!(members, "id,firm_id,name,role,whatsapp_phone")?;
    writeln!(
        project_out,
        "id,firm_id,name,status,client_name,client_phone,designer_member_id,designer_phone,created_at"
    )?;
    writeln!(milestones, "id,project_id,title,status,position")?;

    let mut rng = Rng::new(seed);
    let mut written = Written::default();
    let mut samples = Samples::default();
    let mut phones = vec![0u64; COUNTRIES.len()]; // next number per country
    let mut take_phone = |rng: &mut Rng, c: usize| {
        phones[c] += 1;
        phone(c, phones[c], rng.chance(50))
    };
    // A client from a previous firm, to make phones that are clients in two firms.
    let mut roaming: Option<(usize, String, String)> = None;

    while written.projects < projects {
        let f = written.firms;
        written.firms += 1;
        let firm_id = uuid(0xf, f);
        let c = rng.range(0, COUNTRIES.len() as u64 - 1) as usize;
        writeln!(
            firms,
            "{firm_id},Studio {f},{},{}",
            COUNTRIES[c].0,
            100_000_000_000_000 + f
        )?;

        // Members: most have a WhatsApp phone; the rest are legacy designers
        // known only through projects.designer_phone.
        let member_count = rng.range(1, 50);
        let mut firm_members = Vec::with_capacity(member_count as usize);
        for _ in 0..member_count {
            let m = written.members;
            written.members += 1;
            let id = uuid(0xa, m);
            let (written_phone, wa_id) = take_phone(&mut rng, c);
            let legacy = rng.chance(20);
            let shown = if legacy { "" } else { written_phone.as_str() };
            writeln!(members, "{id},{firm_id},Designer {m},Designer,{shown}")?;
            if samples.designers.len() < 10_000 && !legacy {
                samples.designers.push(wa_id.clone());
            }
            firm_members.push((id, written_phone, legacy, wa_id));
        }

        // Projects: each client gets 1–3 of this firm's projects.
        let firm_projects = (member_count * rng.range(2, 14)).min(projects - written.projects);
        let mut made = 0;
        while made < firm_projects {
            let (client_written, client_wa, client_country) = match roaming.take() {
                Some((rc, w, wa)) if rc == c => (w, wa, rc),
                _ => {
                    let (w, wa) = take_phone(&mut rng, c);
                    (w, wa, c)
                }
            };
            let _ = client_country;
            let client_projects = rng.range(1, 3).min(firm_projects - made);
            if client_projects == 1 && samples.clients.len() < 10_000 {
                samples.clients.push(client_wa.clone());
                samples
                    .client_projects
                    .push((client_wa.clone(), uuid(0xb, written.projects)));
            } else if client_projects > 1 && samples.ambiguous.len() < 10_000 {
                samples.ambiguous.push(client_wa.clone());
            }
            for _ in 0..client_projects {
                let p = written.projects;
                written.projects += 1;
                made += 1;
                let id = uuid(0xb, p);
                let (member_id, member_phone, legacy, member_wa) =
                    &firm_members[rng.range(0, member_count - 1) as usize];
                let legacy_phone = if *legacy { member_phone.as_str() } else { "" };
                if *legacy
                    && samples.legacy_designers.len() < 10_000
                    && samples.legacy_designers.last() != Some(member_wa)
                {
                    samples.legacy_designers.push(member_wa.clone());
                }
                let status = STATUSES[rng.range(0, 4) as usize];
                let created = 1_700_000_000 + rng.range(0, 2 * 365 * 86_400);
                let created = jiff::Timestamp::from_second(created as i64).unwrap();
                writeln!(
                    project_out,
                    "{id},{firm_id},Project {p},{status},Client {p},{client_written},{member_id},{legacy_phone},{created}"
                )?;
                let count = match with {
                    Milestones::With => rng.range(5, 20),
                    Milestones::Without => 0,
                    Milestones::Each(n) => n,
                };
                let done = rng.range(0, count.max(1));
                for position in 1..=count {
                    let m = written.milestones;
                    written.milestones += 1;
                    let status = match position.cmp(&done) {
                        std::cmp::Ordering::Less => "approved",
                        std::cmp::Ordering::Equal => "awaiting_approval",
                        std::cmp::Ordering::Greater => "pending",
                    };
                    writeln!(
                        milestones,
                        "{},{id},Milestone {position},{status},{position}",
                        uuid(0xc, m)
                    )?;
                }
            }
            if rng.chance(2) {
                roaming = Some((c, client_written, client_wa));
            }
        }
    }
    for mut out in [firms, members, project_out, milestones] {
        out.flush()?;
    }
    Ok((written, samples))
}

/// Peak resident memory of this process so far, in KiB (`VmHWM`).
pub fn peak_rss_kib() -> u64 {
    peak_rss_kib_of("self")
}

/// Peak resident memory of process `pid` (or `self`) so far, in KiB.
pub fn peak_rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

/// (firm, project) id pairs spread over `projects.csv` in `csv` (about a
/// thousand), for benches that read projects.
pub fn project_pairs(csv: &Path, projects: u64) -> Vec<(String, String)> {
    std::fs::read_to_string(csv.join("projects.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .step_by((projects as usize / 1000).max(1))
        .map(|line| {
            let mut cells = line.split(',');
            let project = cells.next().unwrap().to_owned();
            (cells.next().unwrap().to_owned(), project)
        })
        .collect()
}
