//! Configuration, read in one place: the environment becomes a [`Vars`] here
//! ([`environment`]) and nowhere else, and each function's settings are parsed from it —
//! every part by the parser of its own settings (each provider in its folder, the SAP
//! adapter in its). Every endpoint URL is configuration, so the same binaries talk to the
//! real services and to the sandboxes. Credentials are not configuration: the settings
//! name secrets, which the secret adapters read.
//!
//! Invariant: only [`environment`] reads the process environment; wiring hands the
//! settings built here to adapters and use cases as values.

use crate::domain::mapping::Mappings;
use crate::domain::signals::rules::Rules;
use crate::domain::ProviderKind;
use crate::marketing::sap::settings::SapSettings;
use crate::ports::budget::{BudgetLimits, BudgetScope};
use crate::ports::store::FETCH_COALESCE_WINDOW;
use crate::provider::registry::{self, ProviderSettings};
use crate::settings::{SettingsError, Vars};
use crate::telemetry::TelemetrySettings;
use crate::use_cases::connect::{ConnectSettings, MAX_BACKFILL_DAYS};
use crate::use_cases::daily::DailyPacing;
use crate::use_cases::signals::SignalSettings;
use crate::use_cases::sync::{DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS};

/// Why a function's settings could not be read.
pub type ConfigError = SettingsError;

/// The process environment, as settings: the one read of it.
pub fn environment() -> Vars {
    Vars::from_pairs(std::env::vars())
}

/// What logs and metrics are configured with (`RUST_LOG`, `METRICS_NAMESPACE`).
pub fn telemetry(vars: &Vars) -> TelemetrySettings {
    TelemetrySettings {
        rust_log: vars.optional("RUST_LOG"),
        namespace: vars.optional("METRICS_NAMESPACE"),
    }
}

/// Everything the OAuth function is configured with.
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub table_name: String,
    /// Where a reconnected person's parked work goes back to, and backfills go
    /// (`WORK_QUEUE_URL`); `None`: neither.
    pub work_queue_url: Option<String>,
    pub connect: ConnectSettings,
    /// Secrets Manager id of `{key}`, the HMAC key the company's app signs connect links
    /// with (`CONNECT_LINK_SECRET_ID`).
    pub link_secret_id: String,
    pub providers: ProviderSettings,
    pub sap: SapSettings,
    pub mappings: Mappings,
}

impl OAuthSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(OAuthSettings {
            table_name: vars.required("TABLE_NAME")?,
            work_queue_url: vars.optional("WORK_QUEUE_URL"),
            connect: ConnectSettings {
                public_base_url: vars.optional_url("PUBLIC_BASE_URL")?,
                backfill_days: vars.number("BACKFILL_DAYS", 30, 0..=MAX_BACKFILL_DAYS)?,
                require_signed_links: vars.flag("REQUIRE_SIGNED_LINKS", false)?,
            },
            link_secret_id: vars.required("CONNECT_LINK_SECRET_ID")?,
            providers: ProviderSettings::from_vars(vars)?,
            sap: SapSettings::from_vars(vars)?,
            mappings: mappings(vars)?,
        })
    }
}

/// Everything the webhook function is configured with.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub providers: ProviderSettings,
    pub work_queue_url: String,
}

impl WebhookSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(WebhookSettings {
            providers: ProviderSettings::from_vars(vars)?,
            work_queue_url: vars.required("WORK_QUEUE_URL")?,
        })
    }
}

/// The queue URLs and redrive setting the pipeline functions use.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub work_queue_url: String,
    /// Only the worker sends there.
    pub retry_queue_url: Option<String>,
    /// The work queue's redrive `maxReceiveCount`.
    pub max_receive_count: u32,
}

impl QueueSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(QueueSettings {
            work_queue_url: vars.required("WORK_QUEUE_URL")?,
            retry_queue_url: vars.optional("RETRY_QUEUE_URL"),
            max_receive_count: vars.number("WORK_QUEUE_MAX_RECEIVE_COUNT", 5, 0..=u32::MAX)?,
        })
    }

    pub fn retry_queue_url(&self) -> Result<&str, ConfigError> {
        self.retry_queue_url
            .as_deref()
            .ok_or(SettingsError::Missing("RETRY_QUEUE_URL"))
    }
}

/// Everything the worker and the token-refresh function are configured with.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    pub table_name: String,
    pub providers: ProviderSettings,
    /// The worker's; the token-refresh function has no SAP settings.
    pub sap: Option<SapSettings>,
    pub queues: QueueSettings,
    pub mappings: Mappings,
    /// The worker's campaign signals.
    pub signals: SignalSettings,
    /// The EventBridge bus signal events go to (`SIGNAL_EVENT_BUS`); `None`: not published.
    pub event_bus: Option<String>,
    /// The worker's: how long what is kept about a person after they disconnect (the
    /// tombstone with their contact key and customer ref, the contact's import ledger,
    /// signal history and signal state) lasts before it expires (`RETENTION_DAYS`, 1 to
    /// 3650 days, default 90). Within it, late messages about the disconnect still find
    /// the tombstone, and a person who connects again keeps what is written again; after
    /// it, nothing about them remains. An account deletion deletes the history at once.
    pub retention: time::Duration,
    /// The worker's: a day is fetched at most once in this window however often it is
    /// announced (`FETCH_COALESCE_SECONDS`, 0 to 900, default 60): a replayed delivery or
    /// a burst of notifications costs the providers one call; a later change waits for
    /// the window's end.
    pub fetch_coalesce: time::Duration,
    /// The worker's shared request budget, per quota holder ([`budget_limits`]).
    pub budget: BudgetSettings,
}

/// The shared request budget: requests a minute per quota holder, and how far the lower
/// priorities may reach into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetSettings {
    /// Every scope with a limit; a scope not listed is not counted.
    pub limits: std::collections::HashMap<BudgetScope, BudgetLimits>,
    /// Requests leased from the shared table at a time (`REQUEST_BUDGET_SLICE`, 1 to
    /// 10,000, default 100): fewer writes for larger slices, less left unused at a
    /// window's end for smaller ones.
    pub slice: u32,
    /// The priorities' shares alone (`per_minute` 0), for windows a quota holder reports
    /// ([`crate::budget::ReportedQuota`]): they hold even where no scope is counted.
    pub shares: BudgetLimits,
}

/// The daily pull's share of a budget, unless configured.
const DEFAULT_DAILY_PERCENT: u8 = 80;
/// Backfills' share of a budget, unless configured.
const DEFAULT_BACKFILL_PERCENT: u8 = 50;

impl BudgetSettings {
    /// No per-minute budget: every request granted but what a quota holder's own windows
    /// refuse (`REQUEST_BUDGET_PER_MINUTE=off` with the default shares; the token-refresh
    /// function, and tests that want none).
    pub fn off() -> BudgetSettings {
        BudgetSettings {
            limits: Default::default(),
            slice: 1,
            shares: BudgetLimits {
                per_minute: 0,
                daily_percent: DEFAULT_DAILY_PERCENT,
                backfill_percent: DEFAULT_BACKFILL_PERCENT,
            },
        }
    }
}

/// `REQUEST_BUDGET_PER_MINUTE`: `off`, or comma-separated `<scope>=<requests a minute>`
/// (a provider's name, or `marketing` for the SAP tenant) over the defaults of
/// [`registry::default_budget`]; 0 leaves a scope uncounted.
/// `REQUEST_BUDGET_DAILY_PERCENT` (default 80) and `REQUEST_BUDGET_BACKFILL_PERCENT`
/// (default 50): how much of each minute the daily pull and backfills may use, the rest
/// being kept for notifications (and, for backfills, the daily pull).
pub fn budget_limits(vars: &Vars) -> Result<BudgetSettings, ConfigError> {
    const NAME: &str = "REQUEST_BUDGET_PER_MINUTE";
    let daily_percent = vars.number(
        "REQUEST_BUDGET_DAILY_PERCENT",
        DEFAULT_DAILY_PERCENT,
        1..=100,
    )?;
    let backfill_percent = vars.number(
        "REQUEST_BUDGET_BACKFILL_PERCENT",
        DEFAULT_BACKFILL_PERCENT,
        1..=100,
    )?;
    let slice = vars.number("REQUEST_BUDGET_SLICE", 100, 1..=10_000)?;
    let limits = |per_minute| BudgetLimits {
        per_minute,
        daily_percent,
        backfill_percent,
    };
    let mut per_minute: std::collections::HashMap<BudgetScope, u32> = ProviderKind::ALL
        .iter()
        .map(|k| (BudgetScope::Provider(*k), registry::default_budget(*k)))
        .collect();
    let value = vars.or(NAME, "");
    if value.trim() == "off" {
        per_minute.clear();
    } else {
        for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let invalid = || SettingsError::Invalid {
                name: NAME,
                reason: "off, or <provider or marketing>=<requests a minute>, comma-separated"
                    .into(),
            };
            let (scope, n) = pair.split_once('=').ok_or_else(invalid)?;
            let scope = match scope.trim() {
                "marketing" => BudgetScope::Marketing,
                kind => BudgetScope::Provider(kind.parse().map_err(|_| invalid())?),
            };
            per_minute.insert(scope, n.trim().parse().map_err(|_| invalid())?);
        }
    }
    Ok(BudgetSettings {
        limits: per_minute
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(scope, n)| (scope, limits(n)))
            .collect(),
        slice,
        shares: limits(0),
    })
}

impl PipelineSettings {
    /// The worker: everything.
    pub fn worker_from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(PipelineSettings {
            sap: Some(SapSettings::from_vars(vars)?),
            mappings: mappings(vars)?,
            signals: signals(vars)?,
            event_bus: vars.optional("SIGNAL_EVENT_BUS"),
            retention: time::Duration::days(i64::from(vars.number(
                "RETENTION_DAYS",
                DEFAULT_RETENTION_DAYS,
                1..=MAX_RETENTION_DAYS,
            )?)),
            fetch_coalesce: time::Duration::seconds(vars.number(
                "FETCH_COALESCE_SECONDS",
                FETCH_COALESCE_WINDOW.whole_seconds(),
                0..=900,
            )?),
            budget: budget_limits(vars)?,
            ..Self::refresher_from_vars(vars)?
        })
    }

    /// The token-refresh function: tokens and the work queue.
    pub fn refresher_from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(PipelineSettings {
            table_name: vars.required("TABLE_NAME")?,
            providers: ProviderSettings::from_vars(vars)?,
            sap: None,
            queues: QueueSettings::from_vars(vars)?,
            mappings: registry::default_mappings(),
            signals: SignalSettings::default(),
            event_bus: None,
            retention: time::Duration::days(i64::from(DEFAULT_RETENTION_DAYS)),
            fetch_coalesce: FETCH_COALESCE_WINDOW,
            budget: BudgetSettings::off(),
        })
    }
}

/// The KMS key OAuth tokens are sealed under before they reach the table (`TOKEN_KEY_ID`:
/// the functions that hold tokens — OAuth, worker, token-refresh); `None`: stored as they
/// are, as before sealing.
pub fn token_key(vars: &Vars) -> Option<String> {
    vars.optional("TOKEN_KEY_ID")
}

/// Everything the daily job is configured with.
#[derive(Clone, Debug)]
pub struct DailySettings {
    pub table_name: String,
    pub work_queue_url: String,
    /// Parallel scan segments (`SCAN_SEGMENTS`, 1 to 64, default 8).
    pub segments: u32,
    /// `DAILY_WINDOW_MINUTES` (1 to 720; unset or 0: everyone at once) spreads each time
    /// zone's pull over that many minutes after local midnight, the job running every
    /// `DAILY_PERIOD_MINUTES` (1 to 15, default 15: its schedule must be that rate).
    pub pacing: Option<DailyPacing>,
}

impl DailySettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(DailySettings {
            table_name: vars.required("TABLE_NAME")?,
            work_queue_url: vars.required("WORK_QUEUE_URL")?,
            segments: vars.number("SCAN_SEGMENTS", 8, 1..=64)?,
            pacing: match vars.number("DAILY_WINDOW_MINUTES", 0u64, 0..=720)? {
                0 => None,
                minutes => Some(DailyPacing {
                    window: std::time::Duration::from_secs(minutes * 60),
                    period: std::time::Duration::from_secs(
                        vars.number("DAILY_PERIOD_MINUTES", 15u64, 1..=15)? * 60,
                    ),
                }),
            },
        })
    }
}

/// `INTERACTION_MAPPING`: per provider, how its people and days look in SAP (JSON keyed by
/// provider; empty for the providers' defaults).
pub fn mappings(vars: &Vars) -> Result<Mappings, ConfigError> {
    let catalog = registry::Registry;
    Mappings::from_json(&vars.or("INTERACTION_MAPPING", ""), |kind| {
        crate::ports::catalog::ProviderCatalog::default_mapping(&catalog, kind)
    })
    .map_err(|e| SettingsError::Invalid {
        name: "INTERACTION_MAPPING",
        reason: e.to_string(),
    })
}

/// `SIGNAL_RULES` (JSON; unset or empty: the defaults, `[]`: no rules) and
/// `SIGNAL_{SCORE,BAND,SEND_HOUR}_CATEGORY`.
pub fn signals(vars: &Vars) -> Result<SignalSettings, ConfigError> {
    let defaults = SignalSettings::default();
    let rules = match vars.optional("SIGNAL_RULES") {
        Some(json) => Rules::parse(&json).map_err(|e| SettingsError::Invalid {
            name: "SIGNAL_RULES",
            reason: e.to_string(),
        })?,
        None => defaults.rules,
    };
    let category = |name: &'static str, default: String| {
        let value = vars.optional(name).unwrap_or(default);
        if value.chars().count() > 75 {
            return Err(SettingsError::Invalid {
                name,
                reason: "a marketing attribute category has 1-75 characters".into(),
            });
        }
        Ok(value)
    };
    Ok(SignalSettings {
        rules,
        score_category: category("SIGNAL_SCORE_CATEGORY", defaults.score_category)?,
        band_category: category("SIGNAL_BAND_CATEGORY", defaults.band_category)?,
        send_hour_category: category("SIGNAL_SEND_HOUR_CATEGORY", defaults.send_hour_category)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(retention_days: Option<&str>) -> Result<PipelineSettings, ConfigError> {
        let mut vars = vec![
            ("TABLE_NAME", "t"),
            ("WORK_QUEUE_URL", "https://sqs.example/q"),
            ("SAP_BASE_URL", "https://sap.example"),
            ("SAP_SECRET_ID", "sap"),
        ];
        vars.extend(retention_days.map(|days| ("RETENTION_DAYS", days)));
        PipelineSettings::worker_from_vars(&Vars::from_pairs(vars))
    }

    #[test]
    fn the_request_budget_defaults_to_the_documented_quotas_and_can_be_switched_off() {
        let budget = |value: &str| {
            let vars = if value.is_empty() {
                Vars::from_pairs(Vec::<(String, String)>::new())
            } else {
                Vars::from_pairs([("REQUEST_BUDGET_PER_MINUTE", value)])
            };
            budget_limits(&vars)
        };
        let defaults = budget("").unwrap();
        for kind in ProviderKind::ALL {
            let limit = defaults.limits.get(&BudgetScope::Provider(kind));
            assert_eq!(
                limit.map_or(0, |l| l.per_minute),
                registry::default_budget(kind)
            );
        }
        assert!(
            defaults.limits.values().any(|l| l.per_minute == 100_000),
            "a 120,000-a-minute project quota, less headroom"
        );
        assert!(defaults.limits.values().all(|l| l.daily_percent == 80));
        assert_eq!(defaults.slice, 100);
        assert!(!defaults.limits.contains_key(&BudgetScope::Marketing));
        let (a, b) = (ProviderKind::ALL[0], ProviderKind::ALL[1]);
        let set = budget(&format!("{a}=3000, marketing=600")).unwrap();
        assert_eq!(set.limits[&BudgetScope::Marketing].per_minute, 600);
        assert_eq!(set.limits[&BudgetScope::Provider(a)].per_minute, 3000);
        assert_eq!(
            set.limits
                .get(&BudgetScope::Provider(b))
                .map(|l| l.per_minute),
            defaults
                .limits
                .get(&BudgetScope::Provider(b))
                .map(|l| l.per_minute),
        );
        assert!(budget("off").unwrap().limits.is_empty());
        assert!(!budget(&format!("{a}=0"))
            .unwrap()
            .limits
            .contains_key(&BudgetScope::Provider(a)));
        assert!(budget("nosuchprovider=5").is_err());
        assert!(budget(&a.to_string()).is_err());
    }

    #[test]
    fn the_retention_is_90_days_unless_set_and_1_to_3650() {
        let days = |s: PipelineSettings| s.retention.whole_days();
        assert_eq!(days(worker(None).unwrap()), 90);
        assert_eq!(days(worker(Some("")).unwrap()), 90, "empty is unset");
        assert_eq!(days(worker(Some("1")).unwrap()), 1);
        assert_eq!(days(worker(Some("3650")).unwrap()), 3650);
        for bad in ["0", "3651", "-1", "ninety", "7.5"] {
            assert!(
                matches!(
                    worker(Some(bad)),
                    Err(SettingsError::Invalid {
                        name: "RETENTION_DAYS",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
