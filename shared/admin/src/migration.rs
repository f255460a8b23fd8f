//! `migration pending`: the people still connected through a legacy provider, each with
//! what the company needs to reach them, and optionally the connect link to send.
//!
//! Invariants:
//! - Read-only: it scans the connections (never their tokens: the store's summaries do
//!   not carry them) and reads the link key; it writes nothing.
//! - Every connection still stored under the legacy provider is listed, whatever its
//!   status: a migrated person's legacy connection is retired, so whoever is left has not
//!   migrated yet.
//! - Output is one line per person, sorted by user id, then one summary line; a value
//!   that would break the line (whitespace, control characters) is printed quoted.
//! - Every person's link is signed for the successor provider (a link signed for the
//!   legacy one is refused there) and names the person's legacy id, never their customer
//!   ref: only the account whose `legacyUserId` is that id can connect with it, so a
//!   forwarded link attaches nobody else; the customer record comes with the legacy
//!   connection the successor finds.

use std::collections::BTreeMap;

use fitbridge::domain::link as connect_link;
use fitbridge::domain::ProviderKind;
use fitbridge::domain::Secret;
use fitbridge::ports::store::ConnectionSummary;
use fitbridge::secret_store::{LinkKey, SecretCache};
use time::{Duration, OffsetDateTime};
use url::Url;

use crate::cli::{LinkOptions, MigrationOptions};
use crate::{refused, Context, Failure};

/// Connect links to the successor provider, issued at `issued` and valid until `expires`
/// (unix seconds).
pub struct ConnectLinks {
    /// `<public base URL>/connect/<provider>`.
    plain: Url,
    provider: ProviderKind,
    key: Secret,
    issued: i64,
    expires: i64,
}

impl ConnectLinks {
    pub fn new(
        public_base_url: &Url,
        provider: ProviderKind,
        key: Secret,
        issued: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> ConnectLinks {
        let mut plain = public_base_url.clone();
        plain
            .path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(["connect", provider.as_str()]);
        ConnectLinks {
            plain,
            provider,
            key,
            issued: issued.unix_timestamp(),
            expires: expires.unix_timestamp(),
        }
    }

    /// The link for the person whose id at the legacy provider is `legacy_user_id`.
    pub fn for_person(&self, legacy_user_id: &str) -> String {
        let claims = connect_link::LinkClaims {
            customer_ref: None,
            legacy_user_id: Some(legacy_user_id.to_owned()),
            issued: self.issued,
            expires: self.expires,
        };
        format!("{}?{}", self.plain, claims.query(&self.key, self.provider))
    }
}

/// The listing: one line per person, sorted by user id, then the summary line.
pub fn report(
    from: ProviderKind,
    mut people: Vec<ConnectionSummary>,
    links: Option<&ConnectLinks>,
) -> String {
    people.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    let mut text = String::new();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for person in &people {
        *by_status.entry(person.status.as_str()).or_default() += 1;
        text += &format!(
            "{from}/{} status={} contact={}/{} ref={}",
            field(&person.user_id.0),
            person.status.as_str(),
            field(&person.contact.origin),
            field(&person.contact.id),
            person.customer_ref.as_deref().map_or("-".into(), field),
        );
        if let Some(links) = links {
            text += &format!(" link={}", links.for_person(&person.user_id.0));
        }
        text.push('\n');
    }
    text += &crate::people_count_line(&by_status, " to migrate");
    text
}

/// A value as one word of the line: as it is, or quoted when it would break the line.
fn field(value: &str) -> String {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        format!("{value:?}")
    } else {
        value.to_owned()
    }
}

/// Runs `migration pending`: the link key first (a wrong secret id fails before the
/// table is scanned), then the scan.
pub(crate) async fn pending(
    options: &MigrationOptions,
    context: &Context,
) -> Result<String, Failure> {
    let ports = context.ports().await;
    let links = match &options.links {
        Some(link_options) => {
            let issued = context.clock.now();
            let expires = issued + Duration::days(i64::from(link_options.lifetime_days));
            let secrets = ports.secrets();
            Some(connect_links(link_options, options.to, &secrets, issued, expires).await?)
        }
        None => None,
    };
    let directory = ports.table(&options.table);
    let people = directory.connections_of(options.from).await.map_err(|e| {
        refused(format!(
            "cannot list the connections in table {}: {e}",
            options.table
        ))
    })?;
    Ok(report(options.from, people, links.as_ref()))
}

async fn connect_links(
    options: &LinkOptions,
    provider: ProviderKind,
    secrets: &SecretCache,
    issued: OffsetDateTime,
    expires: OffsetDateTime,
) -> Result<ConnectLinks, Failure> {
    // The error names the secret id, never its value.
    let link_key: LinkKey = secrets
        .get(&options.secret_id)
        .await
        .map_err(|e| refused(e.to_string()))?;
    Ok(ConnectLinks::new(
        &options.public_base_url,
        provider,
        link_key.key,
        issued,
        expires,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitbridge::domain::link::{LinkError, LinkParams};
    use fitbridge::domain::{ConnectionStatus, ContactKey, ProviderUserId};

    fn person(
        user: &str,
        status: ConnectionStatus,
        customer_ref: Option<&str>,
    ) -> ConnectionSummary {
        ConnectionSummary {
            provider: ProviderKind::Fitbit,
            user_id: ProviderUserId(user.into()),
            status,
            contact: ContactKey {
                origin: "FITBIT".into(),
                id: user.into(),
            },
            customer_ref: customer_ref.map(str::to_owned),
            updated_at: None,
            connected_at: None,
            consented_at: None,
        }
    }

    fn params(link: &str) -> LinkParams {
        let url = Url::parse(link).unwrap();
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        LinkParams {
            customer_ref: param("ref"),
            legacy_user_id: param("legacy"),
            issued: param("issued"),
            expires: param("expires"),
            sig: param("sig"),
        }
    }

    #[test]
    fn lines_are_sorted_and_counted_by_status() {
        let people = vec![
            person("B2", ConnectionStatus::ProviderGone, Some("C-2")),
            person("A1", ConnectionStatus::Active, None),
            person("C3", ConnectionStatus::ProviderGone, Some("C 3")),
        ];
        assert_eq!(
            report(ProviderKind::Fitbit, people, None),
            "fitbit/A1 status=active contact=FITBIT/A1 ref=-\n\
             fitbit/B2 status=provider_gone contact=FITBIT/B2 ref=C-2\n\
             fitbit/C3 status=provider_gone contact=FITBIT/C3 ref=\"C 3\"\n\
             3 people to migrate (by status: active=1, provider_gone=2)\n"
        );
        assert_eq!(
            report(ProviderKind::Fitbit, Vec::new(), None),
            "0 people to migrate\n"
        );
    }

    #[test]
    fn a_link_names_the_legacy_account_is_signed_for_the_successor_and_carries_no_ref() {
        let key = Secret::new("link-key");
        let now = time::macros::datetime!(2026-12-01 09:00 UTC);
        let base = Url::parse("https://api.example.com/prod/").unwrap();
        let links = ConnectLinks::new(
            &base,
            ProviderKind::GoogleHealth,
            key.clone(),
            now,
            now + Duration::days(14),
        );
        let signed = links.for_person("GGN 42");
        assert!(
            signed.starts_with(
                "https://api.example.com/prod/connect/google-health?legacy=GGN%2042&issued="
            ),
            "{signed}"
        );
        let params = params(&signed);
        assert_eq!(
            params.customer_ref, None,
            "no ref travels in a migration link"
        );
        let verified = connect_link::verify(&key, ProviderKind::GoogleHealth, &params, now)
            .unwrap()
            .unwrap();
        assert_eq!(verified.legacy_user_id.as_deref(), Some("GGN 42"));
        assert_eq!(
            connect_link::verify(&key, ProviderKind::Fitbit, &params, now),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            connect_link::verify(
                &key,
                ProviderKind::GoogleHealth,
                &params,
                now + Duration::days(14)
            ),
            Err(LinkError::Expired)
        );
    }
}
