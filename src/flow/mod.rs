//! The conversation: stateless button flows and free-text commands.
//!
//! Pure: [`handle`] takes what it may read ([`Data`], implemented by the
//! store inside the writer's transaction, so a message sees the effects of
//! the messages before it in the same batch), the sender and the message,
//! and returns replies and effects. It never writes; the caller applies the
//! effects and queues the replies in the same transaction.

mod button;
mod handler;
pub mod text;

pub use button::{Action, ButtonError, List};
pub use handler::{
    Context, Effect, HINT_EVERY_SECONDS, Input, Output, Reply, To, approval_prompt, handle,
    status_notice,
};

use crate::domain::{FirmId, Member, MemberId, Milestone, MilestoneId, Project, ProjectId};
use crate::resolve::Directory;

/// What the handler reads, beyond the resolver's [`Directory`].
pub trait Data: Directory {
    fn project(&self, firm: FirmId, project: ProjectId) -> Result<Option<Project>, Self::Error>;
    fn project_firm(&self, project: ProjectId) -> Result<Option<FirmId>, Self::Error>;
    fn member(&self, firm: FirmId, member: MemberId) -> Result<Option<Member>, Self::Error>;
    fn milestone_owner(
        &self,
        milestone: MilestoneId,
    ) -> Result<Option<(FirmId, ProjectId)>, Self::Error>;
    fn milestone(
        &self,
        firm: FirmId,
        project: ProjectId,
        milestone: MilestoneId,
    ) -> Result<Option<Milestone>, Self::Error>;
    /// A project's milestones in position order.
    fn milestones_of(
        &self,
        firm: FirmId,
        project: ProjectId,
    ) -> Result<Vec<Milestone>, Self::Error>;
    /// Projects naming `member` as designer, newest first, at most `limit`.
    fn member_projects(
        &self,
        firm: FirmId,
        member: MemberId,
        limit: usize,
    ) -> Result<Vec<ProjectId>, Self::Error>;
    /// When the registration hint last went to this sender (Unix seconds).
    fn last_hint(&self, sender: &str) -> Result<Option<i64>, Self::Error>;
    /// The language the firm's people are written to in.
    fn firm_lang(&self, firm: FirmId) -> Result<text::Lang, Self::Error>;
}
