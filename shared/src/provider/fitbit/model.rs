//! Fitbit wire types (contract: `../shared/reference/fitbit-web-api/`) and their mapping to
//! the domain. Parsing is lenient: device-dependent fields are optional.

use serde::Deserialize;
use time::macros::format_description;
use time::Date;

use crate::domain::{Gender, Profile};

#[derive(Deserialize)]
pub(super) struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    #[serde(default)]
    pub scope: String,
    pub user_id: String,
}

#[derive(Deserialize, Default)]
pub(super) struct ErrorResponse {
    #[serde(default)]
    pub errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
pub(super) struct ErrorItem {
    #[serde(rename = "errorType", default)]
    pub error_type: String,
}

#[derive(Deserialize)]
pub(super) struct ProfileResponse {
    pub user: User,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct User {
    pub full_name: Option<String>,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub gender: Option<String>,
    pub date_of_birth: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub country: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl User {
    pub fn into_profile(self) -> Profile {
        let gender = self.gender.as_deref().map(|g| match g {
            "FEMALE" => Gender::Female,
            "MALE" => Gender::Male,
            _ => Gender::Unknown,
        });
        let birth_date = self
            .date_of_birth
            .as_deref()
            .and_then(|d| Date::parse(d, format_description!("[year]-[month]-[day]")).ok());
        // "de_DE" → language "DE"; SAP's language key is ISO 639-1.
        let language = self
            .locale
            .as_deref()
            .and_then(|l| l.split(['_', '-']).next())
            .filter(|l| l.len() == 2)
            .map(str::to_ascii_uppercase);
        Profile {
            full_name: non_empty(self.full_name).or(non_empty(self.display_name)),
            first_name: non_empty(self.first_name),
            last_name: non_empty(self.last_name),
            gender,
            birth_date,
            country: non_empty(self.country)
                .filter(|c| c.len() == 2)
                .map(|c| c.to_ascii_uppercase()),
            language,
            timezone: non_empty(self.timezone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_maps_leniently() {
        let body = r#"{"user":{"encodedId":"GGNJL9","fullName":"Alex Sandbox","firstName":"Alex",
            "gender":"FEMALE","dateOfBirth":"1990-05-17","timezone":"Europe/Berlin",
            "locale":"de_DE","country":"DE","avatar":"x","unknownField":1}}"#;
        let p = serde_json::from_str::<ProfileResponse>(body)
            .unwrap()
            .user
            .into_profile();
        assert_eq!(p.full_name.as_deref(), Some("Alex Sandbox"));
        assert_eq!(p.last_name, None);
        assert_eq!(p.gender, Some(Gender::Female));
        assert_eq!(p.birth_date.unwrap().to_string(), "1990-05-17");
        assert_eq!(p.language.as_deref(), Some("DE"));
        assert_eq!(p.country.as_deref(), Some("DE"));

        let sparse = r#"{"user":{"dateOfBirth":"","gender":"NA"}}"#;
        let p = serde_json::from_str::<ProfileResponse>(sparse)
            .unwrap()
            .user
            .into_profile();
        assert_eq!(p.birth_date, None);
        assert_eq!(p.gender, Some(Gender::Unknown));
    }
}
