//! The subset of AIP-160 filters `dataPoints.list` accepts: comparisons of a time field with
//! `>=` or `<` against a quoted literal, joined by `AND` (and, for sleep, `OR`), with
//! parentheses. Physical time fields take RFC 3339 timestamps, civil ones
//! `YYYY-MM-DD[THH:mm:ss]`.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// What a filter field compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FieldKind {
    Physical,
    Civil,
    /// A daily summary date (`YYYY-MM-DD` only).
    Date,
}

/// A literal or a data point's value of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Typed {
    Instant(OffsetDateTime),
    Civil(PrimitiveDateTime),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Ge,
    Lt,
}

#[derive(Clone, Debug)]
enum Expr {
    Cmp {
        field: String,
        op: Op,
        literal: Typed,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Clone, Debug)]
pub(super) struct Filter {
    expr: Expr,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Op(String),
    Str(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".to_owned()),
                        Some('\\') => {
                            if let Some(next) = chars.get(i + 1) {
                                value.push(*next);
                            }
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(other) => {
                            value.push(*other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(value));
            }
            '>' | '<' | '=' | '!' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                if matches!(two.as_str(), ">=" | "<=" | "!=") {
                    tokens.push(Token::Op(two));
                    i += 2;
                } else {
                    tokens.push(Token::Op(c.to_string()));
                    i += 1;
                }
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' => {
                let start = i;
                while chars.get(i).is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':')
                }) {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    field_kind: &'a dyn Fn(&str) -> Option<FieldKind>,
    allow_or: bool,
}

fn parse_literal(kind: FieldKind, text: &str) -> Option<Typed> {
    match kind {
        FieldKind::Physical => OffsetDateTime::parse(text, &Rfc3339)
            .ok()
            .map(Typed::Instant),
        FieldKind::Civil => {
            let date_time = PrimitiveDateTime::parse(
                text,
                format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
            );
            date_time
                .ok()
                .or_else(|| {
                    Date::parse(text, format_description!("[year]-[month]-[day]"))
                        .ok()
                        .map(Date::midnight)
                })
                .map(Typed::Civil)
        }
        FieldKind::Date => Date::parse(text, format_description!("[year]-[month]-[day]"))
            .ok()
            .map(|d| Typed::Civil(d.midnight())),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w == word)
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut terms = vec![self.and_expr()?];
        while self.is_keyword("OR") {
            if !self.allow_or {
                return Err("the OR operator is not supported for this data type".to_owned());
            }
            self.pos += 1;
            terms.push(self.and_expr()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::Or(terms)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut terms = vec![self.term()?];
        while self.is_keyword("AND") {
            self.pos += 1;
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::And(terms)
        })
    }

    fn term(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.expr()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing closing parenthesis".to_owned()),
                }
            }
            Some(Token::Ident(field)) if field != "AND" && field != "OR" => {
                let Some(kind) = (self.field_kind)(&field) else {
                    return Err(format!(
                        "unsupported filter field \"{field}\" for this data type"
                    ));
                };
                let op = match self.next() {
                    Some(Token::Op(op)) if op == ">=" => Op::Ge,
                    Some(Token::Op(op)) if op == "<" => Op::Lt,
                    Some(Token::Op(op)) => {
                        return Err(format!(
                            "unsupported comparison operator \"{op}\" (only >= and < are supported)"
                        ))
                    }
                    _ => return Err(format!("expected a comparison after \"{field}\"")),
                };
                let literal = match self.next() {
                    Some(Token::Str(text)) => parse_literal(kind, &text).ok_or_else(|| {
                        let expected = match kind {
                            FieldKind::Physical => "an RFC-3339 timestamp",
                            FieldKind::Civil => "a date with optional time (YYYY-MM-DD[THH:mm:ss])",
                            FieldKind::Date => "a date (YYYY-MM-DD)",
                        };
                        format!("invalid literal \"{text}\" for \"{field}\": expected {expected}")
                    })?,
                    _ => return Err(format!("expected a quoted literal after \"{field}\"")),
                };
                Ok(Expr::Cmp { field, op, literal })
            }
            Some(other) => Err(format!("unexpected token {other:?}")),
            None => Err("unexpected end of filter".to_owned()),
        }
    }
}

impl Filter {
    /// Parses `text`; `field_kind` names the fields the data type supports.
    pub(super) fn parse(
        text: &str,
        field_kind: &dyn Fn(&str) -> Option<FieldKind>,
        allow_or: bool,
    ) -> Result<Filter, String> {
        let mut parser = Parser {
            tokens: tokenize(text)?,
            pos: 0,
            field_kind,
            allow_or,
        };
        let expr = parser.expr()?;
        if parser.pos < parser.tokens.len() {
            return Err(format!("unexpected {:?}", parser.tokens[parser.pos]));
        }
        Ok(Filter { expr })
    }

    /// Whether a data point passes; `value` gives the point's value of a field.
    pub(super) fn matches(&self, value: &dyn Fn(&str) -> Option<Typed>) -> bool {
        fn eval(expr: &Expr, value: &dyn Fn(&str) -> Option<Typed>) -> bool {
            match expr {
                Expr::Cmp { field, op, literal } => match value(field) {
                    Some(actual) => match op {
                        Op::Ge => actual >= *literal,
                        Op::Lt => actual < *literal,
                    },
                    None => false,
                },
                Expr::And(terms) => terms.iter().all(|t| eval(t, value)),
                Expr::Or(terms) => terms.iter().any(|t| eval(t, value)),
            }
        }
        eval(&self.expr, value)
    }

    /// Civil dates outside which no point can match (widened by a day each side for time
    /// zones); `None` where the filter sets no bound.
    pub(super) fn date_bounds(&self) -> (Option<Date>, Option<Date>) {
        fn date_of(literal: &Typed) -> Date {
            match literal {
                Typed::Instant(at) => at.to_offset(time::UtcOffset::UTC).date(),
                Typed::Civil(at) => at.date(),
            }
        }
        fn bounds(expr: &Expr) -> (Option<Date>, Option<Date>) {
            match expr {
                Expr::Cmp {
                    op: Op::Ge,
                    literal,
                    ..
                } => (Some(date_of(literal)), None),
                Expr::Cmp {
                    op: Op::Lt,
                    literal,
                    ..
                } => (None, Some(date_of(literal))),
                Expr::And(terms) => {
                    terms
                        .iter()
                        .map(bounds)
                        .fold((None, None), |(lo, hi), (l, h)| {
                            (
                                lo.max(l),
                                match (hi, h) {
                                    (Some(a), Some(b)) => Some(a.min(b)),
                                    (a, b) => a.or(b),
                                },
                            )
                        })
                }
                Expr::Or(terms) => {
                    let all: Vec<_> = terms.iter().map(bounds).collect();
                    let lo = all
                        .iter()
                        .map(|b| b.0)
                        .collect::<Option<Vec<_>>>()
                        .and_then(|v| v.into_iter().min());
                    let hi = all
                        .iter()
                        .map(|b| b.1)
                        .collect::<Option<Vec<_>>>()
                        .and_then(|v| v.into_iter().max());
                    (lo, hi)
                }
            }
        }
        let (lo, hi) = bounds(&self.expr);
        (
            lo.and_then(|d| d.previous_day()),
            hi.and_then(|d| d.next_day()),
        )
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;

    fn sleep_fields(field: &str) -> Option<FieldKind> {
        match field {
            "sleep.interval.end_time" => Some(FieldKind::Physical),
            "sleep.interval.civil_end_time" => Some(FieldKind::Civil),
            _ => None,
        }
    }

    #[test]
    fn parses_and_evaluates_time_ranges() {
        let filter = Filter::parse(
            r#"sleep.interval.end_time >= "2026-10-01T00:00:00Z" AND sleep.interval.end_time < "2026-10-02T00:00:00Z""#,
            &sleep_fields,
            true,
        )
        .unwrap();
        let at = |t: OffsetDateTime| move |_: &str| Some(Typed::Instant(t));
        assert!(filter.matches(&at(datetime!(2026-10-01 06:00 UTC))));
        assert!(!filter.matches(&at(datetime!(2026-10-02 00:00 UTC))));
        assert_eq!(
            filter.date_bounds(),
            (Some(date!(2026 - 09 - 30)), Some(date!(2026 - 10 - 03)))
        );

        let civil = Filter::parse(
            r#"(sleep.interval.civil_end_time >= "2026-10-01" AND sleep.interval.civil_end_time < "2026-10-02") OR sleep.interval.civil_end_time >= "2026-11-01T12:00:00""#,
            &sleep_fields,
            true,
        )
        .unwrap();
        let civil_at = |t: PrimitiveDateTime| move |_: &str| Some(Typed::Civil(t));
        assert!(civil.matches(&civil_at(datetime!(2026-10-01 07:05))));
        assert!(!civil.matches(&civil_at(datetime!(2026-10-15 07:05))));
        assert!(civil.matches(&civil_at(datetime!(2026-11-01 13:00))));
    }

    #[test]
    fn refuses_what_the_api_refuses() {
        for bad in [
            r#"sleep.interval.start_time >= "2026-10-01T00:00:00Z""#,
            r#"sleep.interval.end_time > "2026-10-01T00:00:00Z""#,
            r#"sleep.interval.end_time >= "2026-10-01""#,
            r#"sleep.interval.end_time >= 2026"#,
            r#"sleep.interval.end_time >= "2026-10-01T00:00:00Z" AND"#,
        ] {
            assert!(Filter::parse(bad, &sleep_fields, true).is_err(), "{bad}");
        }
        assert!(Filter::parse(
            r#"sleep.interval.civil_end_time >= "2026-10-01" OR sleep.interval.civil_end_time < "2026-09-01""#,
            &sleep_fields,
            false
        )
        .is_err());
    }
}
