//! Where the SAP tenant lives, which API carries contacts, and how fitbridge's writes are
//! labelled there.

use url::Url;

use crate::settings::{SettingsError, Vars};

/// Which SAP API carries contacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactApi {
    /// `API_MKT_CONTACT_SRV;v=0004`, SAP's recommendation since release 1711.
    Contact,
    /// `CUAN_IMPORT_SRV/ImportHeaders`, the original design's import service.
    Cuan,
}

/// Read from `SAP_*`.
#[derive(Clone, Debug)]
pub struct SapSettings {
    /// The tenant's API host, e.g. `https://my000000-api.s4hana.ondemand.com`.
    pub base_url: Url,
    /// Secrets Manager id of `{username, password}` (the communication user).
    pub secret_id: String,
    pub contact_api: ContactApi,
    /// Origin of the company's own customer ids, attached as additional ids.
    pub customer_id_origin: String,
    /// `Sap-Cuan-SourceSystemType` / `Sap-Cuan-SourceSystemId` on every write.
    pub source_system_type: String,
    pub source_system_id: String,
}

impl SapSettings {
    pub fn from_vars(vars: &Vars) -> Result<Self, SettingsError> {
        let contact_api = match vars.or("SAP_CONTACT_API", "contact").as_str() {
            "contact" => ContactApi::Contact,
            "cuan" => ContactApi::Cuan,
            other => {
                return Err(SettingsError::Invalid {
                    name: "SAP_CONTACT_API",
                    reason: format!("{other:?} is neither \"contact\" nor \"cuan\""),
                })
            }
        };
        Ok(SapSettings {
            base_url: vars.url("SAP_BASE_URL", &vars.required("SAP_BASE_URL")?)?,
            secret_id: vars.required("SAP_SECRET_ID")?,
            contact_api,
            customer_id_origin: vars.or("SAP_CUSTOMER_ID_ORIGIN", "CUSTOMER_ID"),
            source_system_type: vars.or("SAP_SOURCE_SYSTEM_TYPE", "EXT"),
            source_system_id: vars.or("SAP_SOURCE_SYSTEM_ID", "FITBRIDGE"),
        })
    }
}
