//! Button ids: `<prefix>:<argument>`, the only state a flow keeps.
//!
//! The four prefixes of DESIGN section 4 are fixed; `more:` pages long
//! lists. An id is untrusted input (it can be forged or typed), so parsing
//! only checks its shape: who may act on the resource is decided by the
//! handler on every tap.

use std::fmt;

use crate::domain::{MilestoneId, ProjectId};

/// Which long list a `more:` row continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// The sender's projects (`/projects`, or an ambiguous sender's picker).
    Projects,
    /// A project's milestones awaiting the client's approval.
    Awaiting(ProjectId),
    /// A project's pending milestones a designer can mark ready.
    Pending(ProjectId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `sel:<project>`: show the project and the sender's actions on it.
    Select(ProjectId),
    /// `do_approve:<project>`: list milestones awaiting approval.
    ListAwaiting(ProjectId),
    /// `mil:<milestone>`: approve a milestone.
    Approve(MilestoneId),
    /// `rdy:<milestone>`: mark a milestone ready for approval.
    Ready(MilestoneId),
    /// `more:<list>:<offset>`: the next page of a list.
    More { list: List, offset: usize },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a button id we make: {0:?}")]
pub struct ButtonError(pub String);

impl Action {
    pub fn parse(id: &str) -> Result<Self, ButtonError> {
        // Mutation `button_panic`: a parser that panics on long ids.
        if crate::mutation::on("button_panic") && id.len() > 40 {
            panic!("mutation button_panic");
        }
        let bad = || ButtonError(id.chars().take(64).collect());
        let (prefix, arg) = id.split_once(':').ok_or_else(bad)?;
        let project = |arg: &str| ProjectId::parse(arg).map_err(|_| bad());
        let milestone = |arg: &str| MilestoneId::parse(arg).map_err(|_| bad());
        Ok(match prefix {
            "sel" => Self::Select(project(arg)?),
            "do_approve" => Self::ListAwaiting(project(arg)?),
            "mil" => Self::Approve(milestone(arg)?),
            "rdy" => Self::Ready(milestone(arg)?),
            "more" => {
                let (list, offset) = arg.rsplit_once(':').ok_or_else(bad)?;
                let offset = offset.parse().map_err(|_| bad())?;
                let list = match list.split_once(':') {
                    None if list == "projects" => List::Projects,
                    Some(("approve", p)) => List::Awaiting(project(p)?),
                    Some(("ready", p)) => List::Pending(project(p)?),
                    _ => return Err(bad()),
                };
                Self::More { list, offset }
            }
            _ => return Err(bad()),
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Select(p) => write!(f, "sel:{p}"),
            Self::ListAwaiting(p) => write!(f, "do_approve:{p}"),
            Self::Approve(m) => write!(f, "mil:{m}"),
            Self::Ready(m) => write!(f, "rdy:{m}"),
            Self::More { list, offset } => match list {
                List::Projects => write!(f, "more:projects:{offset}"),
                // Mutation `button_more`: the page of approvals written as
                // the page of ready milestones.
                List::Awaiting(p) if crate::mutation::on("button_more") => {
                    write!(f, "more:ready:{p}:{offset}")
                }
                List::Awaiting(p) => write!(f, "more:approve:{p}:{offset}"),
                List::Pending(p) => write!(f, "more:ready:{p}:{offset}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_round_trips_through_its_id() {
        let p = ProjectId::parse("0195a000-0000-7000-8000-0000000000b1").unwrap();
        let m = MilestoneId::parse("0195a000-0000-7000-8000-0000000000c1").unwrap();
        for action in [
            Action::Select(p),
            Action::ListAwaiting(p),
            Action::Approve(m),
            Action::Ready(m),
            Action::More {
                list: List::Projects,
                offset: 9,
            },
            Action::More {
                list: List::Awaiting(p),
                offset: 18,
            },
            Action::More {
                list: List::Pending(p),
                offset: 27,
            },
        ] {
            let id = action.to_string();
            assert!(id.len() <= 200, "{id}");
            assert_eq!(Action::parse(&id), Ok(action), "{id}");
        }
        assert_eq!(
            Action::Select(p).to_string(),
            "sel:0195a000-0000-7000-8000-0000000000b1"
        );
    }

    #[test]
    fn malformed_ids_are_refused() {
        for id in [
            "",
            "sel",
            "sel:",
            "sel:../../etc",
            "mil:1",
            "rdy:🏠",
            "nope:x",
            "more:projects",
            "more:projects:-1",
            "more:other:1",
            "more:approve:x:1",
            "SEL:0195a000-0000-7000-8000-0000000000b1",
        ] {
            assert!(Action::parse(id).is_err(), "{id:?}");
        }
    }
}
