//! Plain validated domain types: ids, phones, and the four records.
//!
//! Everything here is parsed once at the edge (CSV import, webhook) and
//! trusted afterwards. Nothing in this module does I/O or knows about storage.

mod clip;
pub mod event;
pub mod ids;
mod lang;
mod number;
mod phone;
mod records;
mod token;

pub use clip::{Clip, QUOTED_CHARS};
pub use ids::{FirmId, IdError, MemberId, MilestoneId, ProjectId, TokenId};
pub use lang::Lang;
pub use number::BusinessNumber;
pub use phone::{Country, Parsed, Phone, PhoneError, PhoneWarning};
pub use records::{
    Firm, Member, Milestone, MilestoneStatus, Project, ProjectStatus, StatusError, Timestamp,
};
pub use token::Token;
