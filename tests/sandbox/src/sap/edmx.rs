//! The OData V2 contracts (EDMX) of the SAP services the sandbox serves, parsed into the
//! schema that drives validation, the service document and `$metadata`.
//!
//! The EDMX files are the published contracts (see `tests/contracts/sap-marketing/SOURCES.md`);
//! they are compiled in so the sandbox cannot drift from them at runtime.

use std::collections::BTreeMap;

use serde_json::{json, Value};

const SAP_NS: &str = "http://www.sap.com/Protocols/SAPData";

/// The SAP services the sandbox serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ServiceKind {
    Contact,
    Interaction,
    Import,
}

impl ServiceKind {
    pub(crate) const ALL: [ServiceKind; 3] = [Self::Contact, Self::Interaction, Self::Import];

    /// The technical service name as it appears in the URL.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Contact => "API_MKT_CONTACT_SRV",
            Self::Interaction => "API_MKT_INTERACTION_SRV",
            Self::Import => "CUAN_IMPORT_SRV",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Versions the tenant exposes (`;v=0004` in the URL; no version means `0001`).
    pub(crate) fn versions(self) -> &'static [&'static str] {
        match self {
            // v0001 of the contact API is a different, older contract than the EDMX we have.
            Self::Contact => &["0004", "0002"],
            Self::Interaction | Self::Import => &["0001"],
        }
    }

    fn edmx(self) -> &'static str {
        match self {
            Self::Contact => include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../contracts/sap-marketing/API_MKT_CONTACT_SRV.xml"
            )),
            Self::Interaction => include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../contracts/sap-marketing/API_MKT_INTERACTION_SRV.xml"
            )),
            Self::Import => include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../contracts/sap-marketing/CUAN_IMPORT_SRV.xml"
            )),
        }
    }
}

/// The Edm primitive types that occur in the contracts (and in tenant extension fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EdmType {
    String,
    Boolean,
    Byte,
    SByte,
    Int16,
    Int32,
    Int64,
    Decimal,
    Double,
    Single,
    Guid,
    DateTime,
    DateTimeOffset,
    Time,
    Binary,
    /// Anything else (complex types would land here); accepted without checks.
    Other(String),
}

impl EdmType {
    pub(crate) fn parse(name: &str) -> Self {
        match name {
            "Edm.String" => Self::String,
            "Edm.Boolean" => Self::Boolean,
            "Edm.Byte" => Self::Byte,
            "Edm.SByte" => Self::SByte,
            "Edm.Int16" => Self::Int16,
            "Edm.Int32" => Self::Int32,
            "Edm.Int64" => Self::Int64,
            "Edm.Decimal" => Self::Decimal,
            "Edm.Double" => Self::Double,
            "Edm.Single" => Self::Single,
            "Edm.Guid" => Self::Guid,
            "Edm.DateTime" => Self::DateTime,
            "Edm.DateTimeOffset" => Self::DateTimeOffset,
            "Edm.Time" => Self::Time,
            "Edm.Binary" => Self::Binary,
            other => Self::Other(other.to_string()),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Property {
    pub name: String,
    /// As written in the EDMX (`Edm.String`), for messages.
    pub type_name: String,
    pub edm_type: EdmType,
    pub max_length: Option<usize>,
    pub precision: Option<u32>,
    pub scale: Option<u32>,
    pub nullable: bool,
    /// `sap:creatable="false"`: the server fills it; clients may send it but it is ignored.
    pub creatable: bool,
    /// `sap:updatable="false"`: keys and server-maintained fields; an update ignores it.
    pub updatable: bool,
    /// `sap:filterable="false"`: not allowed in `$filter`.
    pub filterable: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Navigation {
    pub name: String,
    /// Unqualified name of the target entity type.
    pub target: String,
    pub many: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct EntityType {
    pub name: String,
    pub keys: Vec<String>,
    pub properties: Vec<Property>,
    pub navigations: Vec<Navigation>,
}

impl EntityType {
    pub(crate) fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub(crate) fn navigation(&self, name: &str) -> Option<&Navigation> {
        self.navigations.iter().find(|n| n.name == name)
    }

    pub(crate) fn is_key(&self, name: &str) -> bool {
        self.keys.iter().any(|k| k == name)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct EntitySet {
    pub name: String,
    /// Unqualified name of the entity type.
    pub entity_type: String,
    pub creatable: bool,
    pub updatable: bool,
    pub deletable: bool,
    /// `sap:requires-filter="true"`: reading the collection needs `$filter`.
    pub requires_filter: bool,
}

/// One service's schema plus the `$metadata` document it is served as.
#[derive(Clone, Debug)]
pub(crate) struct Schema {
    pub namespace: String,
    pub entity_types: BTreeMap<String, EntityType>,
    pub entity_sets: Vec<EntitySet>,
    /// The EDMX as served on `$metadata` (including tenant extension fields).
    pub metadata: String,
}

impl Schema {
    pub(crate) fn load(kind: ServiceKind) -> Schema {
        // The contracts are compiled in, so a parse failure is a broken checkout, not a runtime
        // condition worth handling.
        Schema::parse(kind.edmx()).unwrap_or_else(|e| panic!("{}: invalid EDMX: {e}", kind.name()))
    }

    pub(crate) fn parse(xml: &str) -> Result<Schema, String> {
        let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
        let schema = doc
            .descendants()
            .find(|n| n.has_tag_name("Schema"))
            .ok_or("no <Schema> element")?;
        let namespace = schema
            .attribute("Namespace")
            .ok_or("Schema without Namespace")?;

        // Association name -> role -> (entity type, multiplicity), to resolve navigation targets.
        let mut associations: BTreeMap<&str, BTreeMap<&str, (&str, &str)>> = BTreeMap::new();
        for assoc in schema.children().filter(|n| n.has_tag_name("Association")) {
            let ends = associations
                .entry(assoc.attribute("Name").unwrap_or_default())
                .or_default();
            for end in assoc.children().filter(|n| n.has_tag_name("End")) {
                if let (Some(role), Some(ty)) = (end.attribute("Role"), end.attribute("Type")) {
                    ends.insert(
                        role,
                        (
                            unqualified(ty),
                            end.attribute("Multiplicity").unwrap_or("1"),
                        ),
                    );
                }
            }
        }

        let mut entity_types = BTreeMap::new();
        for node in schema.children().filter(|n| n.has_tag_name("EntityType")) {
            let name = node.attribute("Name").ok_or("EntityType without Name")?;
            let keys = node
                .children()
                .filter(|n| n.has_tag_name("Key"))
                .flat_map(|k| k.children().filter(|n| n.has_tag_name("PropertyRef")))
                .filter_map(|r| r.attribute("Name").map(str::to_string))
                .collect();
            let mut properties = Vec::new();
            let mut navigations = Vec::new();
            for child in node.children() {
                if child.has_tag_name("Property") {
                    properties.push(parse_property(&child)?);
                } else if child.has_tag_name("NavigationProperty") {
                    let nav_name = child
                        .attribute("Name")
                        .ok_or("NavigationProperty without Name")?;
                    let relationship =
                        unqualified(child.attribute("Relationship").unwrap_or_default());
                    let to_role = child.attribute("ToRole").unwrap_or_default();
                    let (target, multiplicity) = associations
                        .get(relationship)
                        .and_then(|ends| ends.get(to_role))
                        .ok_or_else(|| {
                            format!("{name}.{nav_name}: unresolved association {relationship}")
                        })?;
                    navigations.push(Navigation {
                        name: nav_name.to_string(),
                        target: target.to_string(),
                        many: *multiplicity == "*",
                    });
                }
            }
            entity_types.insert(
                name.to_string(),
                EntityType {
                    name: name.to_string(),
                    keys,
                    properties,
                    navigations,
                },
            );
        }

        let entity_sets = schema
            .descendants()
            .filter(|n| n.has_tag_name("EntitySet"))
            .map(|n| EntitySet {
                name: n.attribute("Name").unwrap_or_default().to_string(),
                entity_type: unqualified(n.attribute("EntityType").unwrap_or_default()).to_string(),
                creatable: sap_flag(&n, "creatable"),
                updatable: sap_flag(&n, "updatable"),
                deletable: sap_flag(&n, "deletable"),
                requires_filter: n.attribute((SAP_NS, "requires-filter")) == Some("true"),
            })
            .collect();

        Ok(Schema {
            namespace: namespace.to_string(),
            entity_types,
            entity_sets,
            metadata: xml.to_string(),
        })
    }

    pub(crate) fn entity_set(&self, name: &str) -> Option<&EntitySet> {
        self.entity_sets.iter().find(|s| s.name == name)
    }

    pub(crate) fn entity_type(&self, name: &str) -> Option<&EntityType> {
        self.entity_types.get(name)
    }

    /// Adds a tenant extension field (`YY1_..._MIA`) to an entity type, both to the schema and
    /// to the served `$metadata`, as the key user extensibility app does on a real tenant.
    /// A field the contract already has is left alone.
    pub(crate) fn add_extension_field(
        &mut self,
        entity_type: &str,
        name: &str,
        type_name: &str,
    ) -> Result<(), String> {
        let ty = self
            .entity_types
            .get_mut(entity_type)
            .ok_or_else(|| format!("no entity type {entity_type} in {}", self.namespace))?;
        if ty.property(name).is_some() {
            return Ok(());
        }
        ty.properties.push(Property {
            name: name.to_string(),
            type_name: type_name.to_string(),
            edm_type: EdmType::parse(type_name),
            max_length: None,
            precision: None,
            scale: None,
            nullable: true,
            creatable: true,
            updatable: true,
            // As the served metadata says: extension fields are not filterable.
            filterable: false,
        });

        // Insert the property after the existing ones (before the first navigation property).
        let open = format!("<EntityType Name=\"{entity_type}\"");
        let start = self
            .metadata
            .find(&open)
            .ok_or_else(|| format!("{entity_type} not found in $metadata"))?;
        let end = start
            + self.metadata[start..]
                .find("</EntityType>")
                .ok_or_else(|| format!("{entity_type} is not closed in $metadata"))?;
        let at = self.metadata[start..end]
            .find("<NavigationProperty")
            .map_or(end, |i| start + i);
        let element = format!(
            "<Property Name=\"{name}\" Type=\"{type_name}\" sap:filterable=\"false\" sap:is-extension-field=\"true\"/>\n                "
        );
        self.metadata.insert_str(at, &element);
        Ok(())
    }

    /// The service document in the JSON format (`Accept: application/json`).
    pub(crate) fn service_document_json(&self) -> Value {
        let sets: Vec<&str> = self.entity_sets.iter().map(|s| s.name.as_str()).collect();
        json!({ "d": { "EntitySets": sets } })
    }

    /// The service document in the default AtomPub format.
    pub(crate) fn service_document_xml(&self, base: &str) -> String {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><app:service xml:lang=\"en\" xml:base=\"{base}\" \
             xmlns:app=\"http://www.w3.org/2007/app\" xmlns:atom=\"http://www.w3.org/2005/Atom\" \
             xmlns:sap=\"{SAP_NS}\"><app:workspace><atom:title type=\"text\">Data</atom:title>"
        );
        for set in &self.entity_sets {
            xml.push_str(&format!(
                "<app:collection href=\"{0}\"><atom:title type=\"text\">{0}</atom:title></app:collection>",
                set.name
            ));
        }
        xml.push_str("</app:workspace></app:service>");
        xml
    }
}

fn parse_property(node: &roxmltree::Node) -> Result<Property, String> {
    let name = node.attribute("Name").ok_or("Property without Name")?;
    let type_name = node
        .attribute("Type")
        .ok_or_else(|| format!("{name} without Type"))?;
    let number = |attr: &str| node.attribute(attr).and_then(|v| v.parse().ok());
    Ok(Property {
        name: name.to_string(),
        type_name: type_name.to_string(),
        edm_type: EdmType::parse(type_name),
        max_length: number("MaxLength").map(|n: u32| n as usize),
        precision: number("Precision"),
        scale: number("Scale"),
        nullable: node.attribute("Nullable") != Some("false"),
        creatable: sap_flag(node, "creatable"),
        updatable: sap_flag(node, "updatable"),
        filterable: sap_flag(node, "filterable"),
    })
}

/// `sap:<name>` capability annotations default to true when absent.
fn sap_flag(node: &roxmltree::Node, name: &str) -> bool {
    node.attribute((SAP_NS, name)) != Some("false")
}

fn unqualified(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contracts() {
        let contact = Schema::load(ServiceKind::Contact);
        let origin = contact.entity_type("ContactOriginData").unwrap();
        assert_eq!(origin.keys, ["ContactOrigin", "ContactID"]);
        let p = origin.property("ContactOrigin").unwrap();
        assert_eq!((p.max_length, p.nullable), (Some(20), false));
        let p = origin.property("OriginDataLastChgUTCDateTime").unwrap();
        assert_eq!((&p.edm_type, p.nullable), (&EdmType::DateTimeOffset, false));
        assert!(!origin.property("ContactUUID").unwrap().creatable);
        let nav = origin.navigation("AdditionalIDs").unwrap();
        assert_eq!((nav.target.as_str(), nav.many), ("AdditionalID", true));
        let set = contact.entity_set("ContactOriginData").unwrap();
        assert!(!set.creatable && set.updatable && !set.deletable);

        let import = Schema::load(ServiceKind::Import);
        let header = import.entity_type("ImportHeader").unwrap();
        assert_eq!(header.navigation("Contacts").unwrap().target, "Contact");
        assert_eq!(
            header.navigation("Interactions").unwrap().target,
            "Interaction"
        );
        let interaction = import.entity_type("Interaction").unwrap();
        assert!(interaction.property("YY1_FitbitNumberofStep_MIA").is_some());

        let interaction = Schema::load(ServiceKind::Interaction);
        let set = interaction.entity_set("Interactions").unwrap();
        assert!(set.creatable && set.updatable && !set.deletable && set.requires_filter);
        assert!(
            !contact
                .entity_set("ContactOriginData")
                .unwrap()
                .requires_filter
        );
        let ty = interaction.entity_type("Interaction").unwrap();
        let uuid = ty.property("InteractionUUID").unwrap();
        assert!(uuid.creatable && !uuid.updatable && uuid.filterable);
        assert!(!ty.property("InteractionContent").unwrap().filterable);
        assert!(ty.property("InteractionSourceObject").unwrap().filterable);
    }

    #[test]
    fn extension_fields_reach_schema_and_metadata() {
        let mut schema = Schema::load(ServiceKind::Interaction);
        schema
            .add_extension_field("Interaction", "YY1_Test_MIA", "Edm.Decimal")
            .unwrap();
        let ty = schema.entity_type("Interaction").unwrap();
        assert_eq!(
            ty.property("YY1_Test_MIA").unwrap().edm_type,
            EdmType::Decimal
        );
        // The patched metadata is still a valid contract that declares the field.
        let reparsed = Schema::parse(&schema.metadata).unwrap();
        let ty = reparsed.entity_type("Interaction").unwrap();
        assert!(ty.property("YY1_Test_MIA").is_some());
        assert!(reparsed
            .entity_type("InteractionInterest")
            .unwrap()
            .property("YY1_Test_MIA")
            .is_none());
        assert!(schema
            .add_extension_field("Nope", "YY1_X", "Edm.String")
            .is_err());
    }
}
