//! AccessLink's scope vocabulary: one scope, granted whole.
//!
//! Polar's token answer names no scope: a grant is always `accesslink.read_all` (nothing
//! can be unticked), which reads every kind of data AccessLink serves. Of those we import
//! the daily activity (with the exercises, for the send hour) and sleep; AccessLink's body
//! measurements are only served through its older transactional endpoints, which we do not
//! use.

use crate::domain::{Collection, Scopes};

/// The scope we ask for, and the one every grant holds.
pub const READ_ALL: &str = "accesslink.read_all";

/// The collections we import from AccessLink.
pub const IMPORTED: [Collection; 2] = [Collection::Activities, Collection::Sleep];

/// The collections a set of granted scopes gives access to.
pub fn granted_collections(scopes: &Scopes) -> Vec<Collection> {
    if scopes.contains(READ_ALL) {
        IMPORTED.to_vec()
    } else {
        Vec::new()
    }
}

/// What a grant holds: AccessLink's one scope.
pub fn granted() -> Scopes {
    Scopes::parse(READ_ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_all_grants_activities_and_sleep() {
        assert_eq!(
            granted_collections(&granted()),
            [Collection::Activities, Collection::Sleep]
        );
        assert!(granted_collections(&Scopes::parse("activity sleep weight")).is_empty());
        assert!(granted_collections(&Scopes::default()).is_empty());
    }
}
