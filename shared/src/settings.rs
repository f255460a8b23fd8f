//! What configuration is made of: named values, read from the environment in one place
//! ([`crate::config`]) and handed on as a [`Vars`] to whoever parses their own settings
//! from it — each provider in its folder, the SAP adapter, the functions' settings.
//!
//! Invariant: nothing here reads the environment; a [`Vars`] holds only non-empty values,
//! so "unset" and "set to nothing" mean the same everywhere.

use std::collections::BTreeMap;

use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Named settings values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// The pairs with a non-empty value.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Vars {
        Vars(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        )
    }

    /// An optional value: `None` when unset or empty.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// A required value: set and not empty.
    pub fn required(&self, name: &'static str) -> Result<String, SettingsError> {
        self.optional(name).ok_or(SettingsError::Missing(name))
    }

    /// The value, `default` when unset.
    pub fn or(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// A URL (a trailing slash is dropped), `default` when unset.
    pub fn url(&self, name: &'static str, default: &str) -> Result<Url, SettingsError> {
        parse_url(name, &self.or(name, default))
    }

    /// An optional URL.
    pub fn optional_url(&self, name: &'static str) -> Result<Option<Url>, SettingsError> {
        self.optional(name).map(|v| parse_url(name, &v)).transpose()
    }

    /// A whitespace-separated list, `default` when unset.
    pub fn list(&self, name: &str, default: &str) -> Vec<String> {
        self.or(name, default)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// `true` or `false` (any case), `default` when unset; anything else is refused rather
    /// than guessed at.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self.optional(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(_) => Err(SettingsError::Invalid {
                name,
                reason: "true or false".into(),
            }),
        }
    }

    /// A number, `default` when unset, refused outside `range`.
    pub fn number<T>(
        &self,
        name: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, SettingsError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(value) = self.optional(name) else {
            return Ok(default);
        };
        value
            .parse()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| SettingsError::Invalid {
                name,
                reason: format!("a whole number, {} to {}", range.start(), range.end()),
            })
    }
}

fn parse_url(name: &'static str, value: &str) -> Result<Url, SettingsError> {
    Url::parse(value.trim_end_matches('/')).map_err(|e| SettingsError::Invalid {
        name,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_unset_and_values_parse_or_say_why_not() {
        let vars = Vars::from_pairs([
            ("A", ""),
            ("B", "x y  z"),
            ("N", "70"),
            ("U", "https://a.example/"),
        ]);
        assert_eq!(vars.optional("A"), None);
        assert_eq!(vars.required("A"), Err(SettingsError::Missing("A")));
        assert_eq!(vars.list("B", ""), ["x", "y", "z"]);
        assert_eq!(vars.or("A", "d"), "d");
        assert_eq!(
            vars.url("U", "https://b.example").unwrap().as_str(),
            "https://a.example/"
        );
        assert_eq!(
            vars.number("N", 8u32, 1..=64),
            Err(SettingsError::Invalid {
                name: "N",
                reason: "a whole number, 1 to 64".into()
            })
        );
        assert_eq!(vars.number("M", 8u32, 1..=64), Ok(8));
        let flags = Vars::from_pairs([("T", "True"), ("F", "false"), ("X", "yes")]);
        assert_eq!(flags.flag("T", false), Ok(true));
        assert_eq!(flags.flag("F", true), Ok(false));
        assert_eq!(flags.flag("UNSET", true), Ok(true));
        assert!(flags.flag("X", false).is_err());
    }
}
