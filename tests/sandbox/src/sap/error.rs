//! SAP Gateway error responses (`{"error":{"code":..,"message":{..},"innererror":{..}}}`).

use axum::http::StatusCode;
use serde_json::{json, Value};

/// Gateway deserialization/syntax errors: unknown property, wrong type, too long, bad key.
pub(crate) const CODE_SYNTAX: &str = "/IWBEP/CM_MGW_RT/020";
/// Resource (segment or entity) not found.
pub(crate) const CODE_NOT_FOUND: &str = "/IWBEP/CM_MGW_RT/021";
/// The entity set does not allow the operation (`sap:creatable="false"` etc.).
pub(crate) const CODE_NOT_ALLOWED: &str = "/IWBEP/CM_MGW_RT/049";
/// The data provider does not implement the operation.
pub(crate) const CODE_NOT_IMPLEMENTED: &str = "/IWBEP/CM_MGW_RT/010";
/// Business errors raised by the application (free text message `SY/530`).
pub(crate) const CODE_APP: &str = "SY/530";
/// Unknown service or service version.
pub(crate) const CODE_NO_SERVICE: &str = "/IWFND/MED/170";
/// A failure injected through the admin API.
pub(crate) const CODE_INJECTED: &str = "SANDBOX/INJECTED";

#[derive(Clone, Debug)]
pub(crate) struct ODataError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The property the error is about, if any (`errordetails[].target`).
    pub target: String,
}

impl ODataError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ODataError {
            status,
            code,
            message: message.into(),
            target: String::new(),
        }
    }

    pub(crate) fn syntax(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, CODE_SYNTAX, message)
    }

    pub(crate) fn app(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, CODE_APP, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, CODE_NOT_FOUND, message)
    }

    pub(crate) fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// The JSON body SAP Gateway sends, for the service `service_id` in `version`.
    pub(crate) fn body(&self, service_id: &str, version: &str) -> String {
        let transaction_id = crate::random::hex(16).to_uppercase();
        let timestamp = time::OffsetDateTime::now_utc();
        let timestamp = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}.{:07}",
            timestamp.year(),
            u8::from(timestamp.month()),
            timestamp.day(),
            timestamp.hour(),
            timestamp.minute(),
            timestamp.second(),
            timestamp.nanosecond() / 100
        );
        let body: Value = json!({
            "error": {
                "code": self.code,
                "message": { "lang": "en", "value": self.message },
                "innererror": {
                    "application": {
                        "component_id": "CEC-MKT-DM-IC",
                        "service_namespace": "/SAP/",
                        "service_id": service_id,
                        "service_version": version,
                    },
                    "transactionid": transaction_id,
                    "timestamp": timestamp,
                    "Error_Resolution": {
                        "SAP_Transaction": "For backend administrators: use ADT feed reader \"SAP Gateway Error Log\" or run transaction /IWFND/ERROR_LOG on SAP Gateway hub system and search for entries with the timestamp above for more details",
                        "SAP_Note": "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)",
                    },
                    "errordetails": [{
                        "code": self.code,
                        "message": self.message,
                        "propertyref": "",
                        "severity": "error",
                        "target": self.target,
                        "transition": false,
                    }],
                }
            }
        });
        body.to_string()
    }
}
