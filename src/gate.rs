//! Where a release stands for the gate, and the exit code that says it (pure): shared by
//! `passport gate` and the controller's HTTP gate.

use crate::api::{Decision, ObjectKey, Release, ReleasePassport};

pub const EXIT_ALLOW: u8 = 0;
pub const EXIT_BLOCK: u8 = 1;
pub const EXIT_HOLD: u8 = 2;
pub const EXIT_ERROR: u8 = 3;

/// Where a release stands for the gate (pure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateState {
    /// The release does not exist: an error, not a Hold.
    Unknown(String),
    /// No decision for the release's current generation yet.
    Pending(String),
    Decided(Decision),
}

impl GateState {
    /// The answer a caller acts on: a pending decision is a Hold.
    pub fn decision(&self) -> Option<Decision> {
        match self {
            GateState::Unknown(_) => None,
            GateState::Pending(_) => Some(Decision::Hold),
            GateState::Decided(d) => Some(*d),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self.decision() {
            None => EXIT_ERROR,
            Some(Decision::Allow) => EXIT_ALLOW,
            Some(Decision::Block) => EXIT_BLOCK,
            Some(Decision::Hold) => EXIT_HOLD,
        }
    }
}

pub fn state(
    key: &ObjectKey,
    release: Option<&Release>,
    passport: Option<&ReleasePassport>,
) -> GateState {
    let Some(release) = release else {
        return GateState::Unknown(format!("Release {key} does not exist"));
    };
    let Some(status) = passport.and_then(|p| p.status.as_ref()) else {
        return GateState::Pending(format!(
            "no passport for {key} yet (is the controller running?)"
        ));
    };
    if let (Some(generation), Some(observed)) =
        (release.metadata.generation, status.observed_generation)
        && observed < generation
    {
        return GateState::Pending(format!(
            "waiting for a decision on generation {generation} (last decided: {observed})"
        ));
    }
    match status.decision {
        Some(d) => GateState::Decided(d),
        None => GateState::Pending("no decision yet".into()),
    }
}
