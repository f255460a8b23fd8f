//! Fitbit's scope vocabulary: which scope each collection's data and notifications need.

use crate::domain::{Collection, Scopes};

/// Holds the person's name, gender, birthday, time zone and locale.
pub const PROFILE: &str = "profile";

pub fn scope_for(collection: Collection) -> &'static str {
    match collection {
        Collection::Activities => "activity",
        Collection::Body => "weight",
        Collection::Sleep => "sleep",
    }
}

/// The collections a set of granted scopes gives access to.
pub fn granted_collections(scopes: &Scopes) -> Vec<Collection> {
    Collection::ALL
        .into_iter()
        .filter(|c| scopes.contains(scope_for(*c)))
        .collect()
}
