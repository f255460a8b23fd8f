//! Google Health's scope vocabulary: which scope each collection's data needs, and the
//! scopes of identity. People grant scopes one by one (partial consent): collections
//! follow what was granted.

use crate::domain::{Collection, Scopes};

pub const ACTIVITY: &str =
    "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly";
pub const SLEEP: &str = "https://www.googleapis.com/auth/googlehealth.sleep.readonly";
pub const MEASUREMENTS: &str =
    "https://www.googleapis.com/auth/googlehealth.health_metrics_and_measurements.readonly";
/// Age and membership date.
pub const PROFILE: &str = "https://www.googleapis.com/auth/googlehealth.profile.readonly";
/// Time zone and language.
pub const SETTINGS: &str = "https://www.googleapis.com/auth/googlehealth.settings.readonly";

/// What fitbridge asks for by default: the data it imports, and profile and settings
/// (the health profile has no name, email or gender).
pub const DEFAULT: [&str; 5] = [ACTIVITY, SLEEP, MEASUREMENTS, PROFILE, SETTINGS];

/// Google's OpenID Connect scopes: name and email, only if the company turns them on.
pub const OPENID: [&str; 3] = ["openid", "email", "profile"];
/// How Google's token endpoint reports `email` and `profile` once granted.
const USERINFO_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
const USERINFO_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";

pub fn scope_for(collection: Collection) -> &'static str {
    match collection {
        Collection::Activities => ACTIVITY,
        Collection::Sleep => SLEEP,
        Collection::Body => MEASUREMENTS,
    }
}

/// The collections a set of granted scopes gives access to. A read-write grant of an
/// area (`googlehealth.sleep`) reads too.
pub fn granted_collections(scopes: &Scopes) -> Vec<Collection> {
    Collection::ALL
        .into_iter()
        .filter(|c| {
            let readonly = scope_for(*c);
            scopes.contains(readonly) || scopes.contains(readonly.trim_end_matches(".readonly"))
        })
        .collect()
}

/// Whether the grant lets userinfo tell a name or an email (Google reports `email` and
/// `profile` as their `userinfo.*` URLs).
pub fn has_openid(scopes: &Scopes) -> bool {
    [USERINFO_EMAIL, USERINFO_PROFILE, "email", "profile"]
        .iter()
        .any(|s| scopes.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_consent_yields_the_granted_collections() {
        let scopes = Scopes::parse(&format!("{SLEEP} {PROFILE} openid"));
        assert_eq!(granted_collections(&scopes), [Collection::Sleep]);
        let all = Scopes::parse(&DEFAULT.join(" "));
        assert_eq!(granted_collections(&all), Collection::ALL);
        assert!(
            !has_openid(&scopes),
            "openid alone tells neither name nor email"
        );
        let openid = Scopes::parse(&format!("openid {USERINFO_EMAIL} {USERINFO_PROFILE}"));
        assert!(has_openid(&openid));
    }
}
