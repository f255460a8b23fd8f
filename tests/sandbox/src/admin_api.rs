//! Conventions the provider sandboxes' admin APIs (`/_admin/fitbit/...`,
//! `/_admin/google-health/...`) share.
//!
//! Invariants:
//! - A refused admin request answers a 4xx or 5xx status with `{"error": "<message>"}`.
//! - Dates in admin JSON are `yyyy-MM-dd`.

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A refused admin request.
pub(crate) fn error(status: StatusCode, message: impl fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

/// `yyyy-MM-dd` (de)serialization of [`time::Date`].
pub(crate) mod iso_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::macros::format_description;
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(date)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let text = String::deserialize(deserializer)?;
        Date::parse(&text, format_description!("[year]-[month]-[day]"))
            .map_err(serde::de::Error::custom)
    }
}

/// `yyyy-MM-dd` or `null` for `Option<Date>`.
pub(crate) mod iso_date_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::macros::format_description;
    use time::Date;

    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.collect_str(date),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                Date::parse(&text, format_description!("[year]-[month]-[day]"))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}
