//! OData V2 system query options of reads: `$filter` (comparisons with `eq`/`ne` on string,
//! GUID and boolean properties, combined with `and`/`or` and parentheses), `$top`, `$skip`,
//! `$select`, `$inlinecount` and `$format`.
//!
//! The query is percent-decoded as a form would be (`%20` and `+` are spaces), so clients
//! that encode with either convention are understood. Anything the sandbox does not
//! implement answers 501 rather than being silently ignored, so a test never passes because
//! a filter was dropped.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::edmx::{EdmType, EntityType};
use super::error::{ODataError, CODE_NOT_IMPLEMENTED};
use super::validate::is_guid;

/// The query options of one read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct QueryOptions {
    pub filter: Option<Filter>,
    pub top: Option<usize>,
    pub skip: usize,
    /// Property names; empty means all.
    pub select: Vec<String>,
    /// `$inlinecount=allpages`: the response carries `__count`.
    pub inline_count: bool,
}

/// A parsed `$filter` expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Compare {
        property: String,
        negated: bool,
        value: Literal,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    String(String),
    Guid(String),
    Boolean(bool),
}

fn not_implemented(what: impl Into<String>) -> ODataError {
    ODataError::new(
        StatusCode::NOT_IMPLEMENTED,
        CODE_NOT_IMPLEMENTED,
        format!("{} is not implemented by the sandbox", what.into()),
    )
}

/// Parses the query string of a read (without `?`) against the entity type.
pub(crate) fn parse_query(ty: &EntityType, query: &str) -> Result<QueryOptions, ODataError> {
    let mut options = QueryOptions::default();
    let mut seen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if !name.starts_with('$') {
            // Custom query options (sap-client, sap-language, ...) do not change a read.
            continue;
        }
        if seen.contains(&name) {
            return Err(ODataError::syntax(format!(
                "System query option '{name}' is repeated"
            )));
        }
        seen.push(name.clone());
        match name.as_ref() {
            "$filter" => options.filter = Some(parse_filter(ty, &value)?),
            "$top" => options.top = Some(parse_count(&name, &value)?),
            "$skip" => options.skip = parse_count(&name, &value)?,
            "$select" => {
                for item in value.split(',').map(str::trim) {
                    if item == "*" {
                        options.select.clear();
                        break;
                    }
                    if ty.property(item).is_none() {
                        return Err(ODataError::syntax(format!(
                            "Property '{item}' in $select is not a property of entity type '{}'",
                            ty.name
                        )));
                    }
                    options.select.push(item.to_string());
                }
            }
            "$inlinecount" => match value.as_ref() {
                "allpages" => options.inline_count = true,
                "none" => options.inline_count = false,
                other => {
                    return Err(ODataError::syntax(format!(
                        "Invalid value '{other}' for $inlinecount"
                    )))
                }
            },
            // Responses are always JSON; XML is what clients get by default from the real
            // gateway, but fitbridge asks for JSON.
            "$format" if value == "json" => {}
            "$format" => return Err(not_implemented(format!("$format={value}"))),
            "$orderby" | "$expand" | "$skiptoken" => return Err(not_implemented(name)),
            other => {
                return Err(ODataError::syntax(format!(
                    "System query option '{other}' is invalid"
                )))
            }
        }
    }
    Ok(options)
}

fn parse_count(name: &str, value: &str) -> Result<usize, ODataError> {
    value.trim().parse().map_err(|_| {
        ODataError::syntax(format!(
            "Invalid value '{value}' for {name}: expected a non-negative integer"
        ))
    })
}

impl Filter {
    /// Whether an entity (its properties by name) satisfies the filter. A missing or null
    /// property equals nothing.
    pub(crate) fn matches(&self, fields: &Map<String, Value>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(fields) && b.matches(fields),
            Filter::Or(a, b) => a.matches(fields) || b.matches(fields),
            Filter::Compare {
                property,
                negated,
                value,
            } => {
                let equal = match (fields.get(property), value) {
                    (Some(Value::String(s)), Literal::String(v)) => s == v,
                    (Some(Value::String(s)), Literal::Guid(v)) => s.eq_ignore_ascii_case(v),
                    (Some(Value::Bool(b)), Literal::Boolean(v)) => b == v,
                    _ => false,
                };
                equal != *negated
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Literal(Literal),
    Open,
    Close,
    /// Only valid between function arguments, which the sandbox does not implement.
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ODataError> {
    let invalid = |why: &str| ODataError::syntax(format!("Invalid $filter '{text}': {why}"));
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            ',' => {
                chars.next();
                tokens.push(Token::Comma);
            }
            '\'' => {
                chars.next();
                tokens.push(Token::Literal(Literal::String(
                    quoted(&mut chars).ok_or_else(|| invalid("unterminated string literal"))?,
                )));
            }
            c if c.is_ascii_alphanumeric() || "_$/.-:+".contains(c) => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || "_$/.-:+".contains(c) {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if chars.peek() == Some(&'\'') {
                    // A typed literal: guid'..', datetime'..', X'..'.
                    chars.next();
                    let inner =
                        quoted(&mut chars).ok_or_else(|| invalid("unterminated literal"))?;
                    match word.as_str() {
                        "guid" if is_guid(&inner) => {
                            tokens.push(Token::Literal(Literal::Guid(inner)));
                        }
                        "guid" => return Err(invalid(&format!("'{inner}' is not a GUID"))),
                        other => {
                            return Err(not_implemented(format!(
                                "The literal {other}'...' in $filter"
                            )))
                        }
                    }
                } else {
                    tokens.push(Token::Word(word));
                }
            }
            other => return Err(invalid(&format!("unexpected character '{other}'"))),
        }
    }
    Ok(tokens)
}

/// The rest of a quoted literal after its opening quote; `''` is a quote.
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<String> {
    let mut value = String::new();
    loop {
        match chars.next()? {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                value.push('\'');
            }
            '\'' => return Some(value),
            c => value.push(c),
        }
    }
}

/// Parses a `$filter` expression and checks it against the entity type.
pub(crate) fn parse_filter(ty: &EntityType, text: &str) -> Result<Filter, ODataError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        ty,
        text,
        tokens: &tokens,
        at: 0,
    };
    let filter = parser.or()?;
    if parser.at < tokens.len() {
        return Err(parser.invalid("unexpected text after the expression"));
    }
    Ok(filter)
}

struct Parser<'a> {
    ty: &'a EntityType,
    text: &'a str,
    tokens: &'a [Token],
    at: usize,
}

impl Parser<'_> {
    fn invalid(&self, why: &str) -> ODataError {
        ODataError::syntax(format!("Invalid $filter '{}': {why}", self.text))
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w == word)
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.primary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }

    fn primary(&mut self) -> Result<Filter, ODataError> {
        match self.next().cloned() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(self.invalid("missing ')'")),
                }
            }
            Some(Token::Word(word)) if word == "not" => Err(not_implemented("'not' in $filter")),
            Some(Token::Word(word)) if self.tokens.get(self.at) == Some(&Token::Open) => {
                Err(not_implemented(format!("The function '{word}' in $filter")))
            }
            Some(Token::Word(property)) => self.comparison(property),
            _ => Err(self.invalid("expected a property name")),
        }
    }

    fn comparison(&mut self, property: String) -> Result<Filter, ODataError> {
        let negated = match self.next() {
            Some(Token::Word(op)) if op == "eq" => false,
            Some(Token::Word(op)) if op == "ne" => true,
            Some(Token::Word(op)) if ["gt", "ge", "lt", "le"].contains(&op.as_str()) => {
                return Err(not_implemented(format!("The operator '{op}' in $filter")))
            }
            _ => return Err(self.invalid(&format!("expected 'eq' or 'ne' after '{property}'"))),
        };
        let value = match self.next().cloned() {
            Some(Token::Literal(literal)) => literal,
            Some(Token::Word(w)) if w == "true" || w == "false" => Literal::Boolean(w == "true"),
            Some(Token::Word(w)) if w.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                return Err(not_implemented(format!(
                    "Comparing with the number {w} in $filter"
                )))
            }
            _ => return Err(self.invalid(&format!("expected a literal after '{property}'"))),
        };
        let Some(p) = self.ty.property(&property) else {
            return Err(ODataError::syntax(format!(
                "Property '{property}' in $filter is not a property of entity type '{}'",
                self.ty.name
            ))
            .with_target(&property));
        };
        if !p.filterable {
            return Err(
                ODataError::syntax(format!("Property '{property}' is not filterable"))
                    .with_target(&property),
            );
        }
        let fits = match (&p.edm_type, &value) {
            (EdmType::String, Literal::String(_))
            | (EdmType::Guid, Literal::Guid(_))
            | (EdmType::Boolean, Literal::Boolean(_)) => true,
            (EdmType::String | EdmType::Guid | EdmType::Boolean, _) => false,
            (_, _) => {
                return Err(not_implemented(format!(
                    "Filtering on the {} property '{property}'",
                    p.type_name
                )))
            }
        };
        if !fits {
            return Err(ODataError::syntax(format!(
                "Invalid $filter '{}': the literal for '{property}' does not fit its type {}",
                self.text, p.type_name
            ))
            .with_target(&property));
        }
        Ok(Filter::Compare {
            property,
            negated,
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sap::edmx::{Schema, ServiceKind};
    use serde_json::json;

    fn interaction_type() -> EntityType {
        Schema::load(ServiceKind::Interaction)
            .entity_type("Interaction")
            .unwrap()
            .clone()
    }

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn parses_eq_and_combinations() {
        let ty = interaction_type();
        let filter = parse_filter(
            &ty,
            "InteractionSourceObjectType eq 'FITBIT_DAY' and InteractionSourceObject eq 'O''Brien-1'",
        )
        .unwrap();
        let entity = fields(json!({
            "InteractionSourceObjectType": "FITBIT_DAY",
            "InteractionSourceObject": "O'Brien-1",
        }));
        assert!(filter.matches(&entity));
        let mut other = entity.clone();
        other["InteractionSourceObject"] = json!("O'Brien-2");
        assert!(!filter.matches(&other));
        assert!(!filter.matches(&Map::new()));

        let either = parse_filter(
            &ty,
            "(InteractionContactId eq 'A' or InteractionContactId eq 'B') and InteractionType ne 'X'",
        )
        .unwrap();
        assert!(either.matches(&fields(
            json!({"InteractionContactId": "B", "InteractionType": "Y"})
        )));
        assert!(!either.matches(&fields(
            json!({"InteractionContactId": "B", "InteractionType": "X"})
        )));
        assert!(!either.matches(&fields(json!({"InteractionContactId": "C"}))));

        let uuid = parse_filter(
            &ty,
            "InteractionUUID eq guid'0A1B2C3D-0000-4000-8000-000000000000'",
        )
        .unwrap();
        assert!(uuid.matches(&fields(
            json!({"InteractionUUID": "0a1b2c3d-0000-4000-8000-000000000000"})
        )));
        let boolean = parse_filter(&ty, "InteractionIsAnonymous eq true").unwrap();
        assert!(boolean.matches(&fields(json!({"InteractionIsAnonymous": true}))));
    }

    #[test]
    fn rejects_bad_and_unsupported_filters() {
        let ty = interaction_type();
        for (bad, status, expected) in [
            ("Nope eq 'x'", 400, "not a property"),
            ("InteractionContent eq 'x'", 400, "not filterable"),
            ("InteractionSourceObject eq 1", 501, "number"),
            (
                "InteractionSourceObject eq guid'0a1b2c3d-0000-4000-8000-000000000000'",
                400,
                "does not fit",
            ),
            (
                "InteractionUUID eq 'not-a-guid-literal'",
                400,
                "does not fit",
            ),
            ("InteractionSourceObject eq 'x", 400, "unterminated"),
            (
                "InteractionSourceObject eq 'x' and",
                400,
                "expected a property",
            ),
            ("InteractionSourceObject 'x'", 400, "expected 'eq'"),
            ("(InteractionSourceObject eq 'x'", 400, "missing ')'"),
            (
                "InteractionSourceObject eq 'x' InteractionType",
                400,
                "unexpected text",
            ),
            ("substringof('x', InteractionSourceObject)", 501, "function"),
            ("InteractionCampaignContent gt 1", 501, "operator"),
            ("CampaignContent eq 1", 501, "number"),
            (
                "InteractionTimeStampUTC eq datetimeoffset'2026-01-01T00:00:00Z'",
                501,
                "literal",
            ),
            ("not InteractionIsAnonymous eq true", 501, "'not'"),
        ] {
            let err = parse_filter(&ty, bad).unwrap_err();
            assert_eq!(err.status.as_u16(), status, "{bad}: {}", err.message);
            assert!(err.message.contains(expected), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn query_options_are_decoded() {
        let ty = interaction_type();
        let options = parse_query(
            &ty,
            "%24filter=InteractionSourceObject%20eq%20%27a%2Bb%27&$top=5&$skip=1&$inlinecount=allpages&$select=InteractionUUID,InteractionType&sap-client=100",
        )
        .unwrap();
        assert_eq!(
            options.filter,
            Some(Filter::Compare {
                property: "InteractionSourceObject".into(),
                negated: false,
                value: Literal::String("a+b".into()),
            })
        );
        assert_eq!(
            (options.top, options.skip, options.inline_count),
            (Some(5), 1, true)
        );
        assert_eq!(options.select, ["InteractionUUID", "InteractionType"]);
        // Form encoding: `+` is a space.
        let plus = parse_query(&ty, "$filter=InteractionType+eq+'A+B'").unwrap();
        assert!(plus
            .filter
            .unwrap()
            .matches(&fields(json!({"InteractionType": "A B"}))));

        for (bad, status) in [
            ("$top=-1", 400),
            ("$skip=x", 400),
            ("$select=Nope", 400),
            ("$foo=1", 400),
            ("$top=1&$top=2", 400),
            ("$orderby=InteractionType", 501),
            ("$format=xml", 501),
        ] {
            assert_eq!(
                parse_query(&ty, bad).unwrap_err().status.as_u16(),
                status,
                "{bad}"
            );
        }
        assert_eq!(parse_query(&ty, "").unwrap(), QueryOptions::default());
    }
}
