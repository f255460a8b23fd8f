//! The EventBridge adapter of [`SignalEvents`]: `PutEvents` on the configured bus, source
//! `fitbridge`, the detail type naming the news, the detail the event's JSON.
//! `PutEvents` takes at most 10 entries and may refuse some of them while accepting the
//! rest: refused entries fail the whole publish, as [`EventsError::Unavailable`] (the
//! caller retries it; consumers deduplicate by the event's `id`) unless every one was
//! refused for good; a call refused for good (permissions, no such bus) is
//! [`EventsError::Refused`].

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::{EventsError, SignalEvent, SignalEvents};

pub const SOURCE: &str = "fitbridge";
const ENTRIES_PER_CALL: usize = 10;

pub struct EventBridgeEvents {
    client: Client,
    bus: String,
}

impl EventBridgeEvents {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        EventBridgeEvents {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl SignalEvents for EventBridgeEvents {
    async fn publish(&self, events: &[SignalEvent]) -> Result<(), EventsError> {
        for chunk in events.chunks(ENTRIES_PER_CALL) {
            let entries = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(e.detail_type)
                        .detail(serde_json::to_string(e).expect("plain data"))
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(classify)?;
            if out.failed_entry_count > 0 {
                let codes: Vec<Option<String>> = out
                    .entries()
                    .iter()
                    .filter(|e| e.error_code().is_some())
                    .map(|e| e.error_code().map(str::to_owned))
                    .collect();
                return Err(failed_entries(&codes, chunk.len()));
            }
        }
        Ok(())
    }
}

/// A refusal that will repeat (permissions, a missing bus, an invalid request) apart from
/// what may pass.
fn classify<E, R>(e: aws_sdk_eventbridge::error::SdkError<E, R>) -> EventsError
where
    E: aws_sdk_eventbridge::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_eventbridge::error::ProvideErrorMetadata;
    let permanent = matches!(
        e.code(),
        Some(
            "AccessDeniedException"
                | "ResourceNotFoundException"
                | "ValidationException"
                | "UnrecognizedClientException"
        )
    );
    let text = aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string();
    if permanent {
        EventsError::Refused(text)
    } else {
        EventsError::Unavailable(text)
    }
}

/// Error codes of refused entries that will be refused again (a bus or rule the caller may
/// not use, a bus that is gone, an entry the service will never take).
const PERMANENT_ENTRY_CODES: [&str; 4] = [
    "AccessDeniedException",
    "NotAuthorizedForSourceException",
    "ResourceNotFoundException",
    "ValidationException",
];

/// What refused entries mean: a refusal for good when every one of them is, else worth
/// another try (throttling and internal faults fail entries alone).
fn failed_entries(codes: &[Option<String>], sent: usize) -> EventsError {
    let text = format!("{} of {sent} events not accepted: {codes:?}", codes.len());
    if !codes.is_empty()
        && codes.iter().all(|c| {
            c.as_deref()
                .is_some_and(|c| PERMANENT_ENTRY_CODES.contains(&c))
        })
    {
        EventsError::Refused(text)
    } else {
        EventsError::Unavailable(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_entries_are_for_good_only_when_all_of_them_are() {
        let code = |c: &str| Some(c.to_owned());
        assert!(matches!(
            failed_entries(&[code("NotAuthorizedForSourceException")], 1),
            EventsError::Refused(_)
        ));
        assert!(matches!(
            failed_entries(
                &[
                    code("ResourceNotFoundException"),
                    code("ThrottlingException")
                ],
                2
            ),
            EventsError::Unavailable(_)
        ));
        assert!(matches!(
            failed_entries(&[code("InternalException")], 1),
            EventsError::Unavailable(_)
        ));
        assert!(matches!(
            failed_entries(&[None], 1),
            EventsError::Unavailable(_)
        ));
    }
}
