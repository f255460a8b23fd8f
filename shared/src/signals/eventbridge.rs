//! The EventBridge adapter of [`SignalEvents`]: `PutEvents` on the configured bus, source
//! `fitbridge`, the detail type naming the news, the detail the event's JSON.
//! `PutEvents` takes at most 10 entries and may refuse some of them while accepting the
//! rest: a refused entry fails the whole publish as [`EventsError::Unavailable`], so the
//! caller retries it (consumers deduplicate by the event's `id`); a call refused for good
//! (permissions, no such bus) is [`EventsError::Refused`].

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
            // Entries fail alone for throttling and internal faults: worth another try.
            if out.failed_entry_count > 0 {
                return Err(EventsError::Unavailable(format!(
                    "{} of {} events not accepted",
                    out.failed_entry_count,
                    chunk.len()
                )));
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
