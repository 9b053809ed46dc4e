//! Label selectors: the string syntax of `?labelSelector=` (`app=web,tier in (a,b),!legacy`)
//! and the structured `metav1.LabelSelector` of workload specs, both reduced to one list of
//! requirements that are ANDed.

use crate::admission::go_quote;
use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;

use super::validation::{label_key_errors, label_value_errors};
use super::SelectorError;

/// How a requirement relates a label's value to its listed values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`, the same test as `Equals`, kept apart so printing round-trips.
    DoubleEquals,
    /// `key!=value`; also true when the label is absent.
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`; also true when the label is absent.
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>5`: the label is present and is an integer greater than the value.
    GreaterThan,
    /// `key<5`: the label is present and is an integer less than the value.
    LessThan,
}

impl Operator {
    /// The operator's name as Kubernetes spells it in messages (`in`, `!=`, `gt`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One validated condition on one label key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement after the checks Kubernetes makes: a valid key, the right number of
    /// values for the operator, integer values for `gt`/`lt`, and valid label values.
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Requirement, SelectorError> {
        let key = key.into();
        let mut errors = Vec::new();
        let key_errors = label_key_errors(&key);
        if !key_errors.is_empty() {
            errors.push(invalid("key", &go_quote(&key), &key_errors.join("; ")));
        }
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => errors.push(invalid(
                "values",
                &go_string_slice(&values),
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                errors.push(invalid(
                    "values",
                    &go_string_slice(&values),
                    "exact-match compatibility requires one single value",
                ))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                errors.push(invalid(
                    "values",
                    &go_string_slice(&values),
                    "values set must be empty for exists and does not exist",
                ))
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errors.push(invalid(
                        "values",
                        &go_string_slice(&values),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, value) in values.iter().enumerate() {
                    if value.parse::<i64>().is_err() {
                        errors.push(invalid(
                            &format!("values[{i}]"),
                            &go_quote(value),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, value) in values.iter().enumerate() {
            let value_errors = label_value_errors(value);
            if !value_errors.is_empty() {
                errors.push(invalid(
                    &format!("values[{i}][{key}]"),
                    &go_quote(value),
                    &value_errors.join("; "),
                ));
            }
        }
        if errors.is_empty() {
            Ok(Requirement {
                key,
                operator,
                values,
            })
        } else {
            Err(SelectorError::Label(aggregate(errors)))
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values in the order given (parsing sorts and de-duplicates set values, as
    /// Kubernetes does).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a set of labels satisfies this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|v| self.values.contains(v))
            }
            // Kubernetes treats an absent key as "not equal to anything".
            Operator::NotEquals | Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), [limit]) = (value, self.values.as_slice()) else {
                    return false;
                };
                match (actual.parse::<i64>(), limit.parse::<i64>()) {
                    (Ok(actual), Ok(limit)) => {
                        if self.operator == Operator::GreaterThan {
                            actual > limit
                        } else {
                            actual < limit
                        }
                    }
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        let set = matches!(self.operator, Operator::In | Operator::NotIn);
        if set {
            f.write_str("(")?;
        }
        // Value order is normalised on output only, so the canonical text is stable.
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        f.write_str(&values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A conjunction of label requirements, or the selector that matches nothing.
///
/// The empty selector matches every object; the "nothing" selector (what a missing
/// `metav1.LabelSelector` means) matches none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// Matches every set of labels.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// Matches no set of labels.
    pub fn nothing() -> LabelSelector {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Parses the Kubernetes string syntax. The empty (or all-blank) string selects everything.
    pub fn parse(selector: &str) -> Result<LabelSelector, SelectorError> {
        let tokens = lex(selector);
        let mut requirements = Parser { tokens, pos: 0 }
            .parse()
            .map_err(SelectorError::Label)?;
        // Sorting by key (stably) gives the deterministic canonical form Kubernetes prints.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// Converts a `metav1.LabelSelector` as controllers use it.
    ///
    /// `None` (a missing selector) matches nothing, while a present selector with neither
    /// `matchLabels` nor `matchExpressions` matches everything: that is the Kubernetes rule.
    /// `In`/`NotIn` need at least one value, `Exists`/`DoesNotExist` take none, and any other
    /// operator is rejected.
    pub fn from_api(
        selector: Option<&metav1::LabelSelector>,
    ) -> Result<LabelSelector, SelectorError> {
        let Some(selector) = selector else {
            return Ok(LabelSelector::nothing());
        };
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::new(
                key.clone(),
                Operator::Equals,
                vec![value.clone()],
            )?);
        }
        for expression in selector.match_expressions.iter().flatten() {
            let operator = match expression.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::Label(format!(
                        "{} is not a valid label selector operator",
                        go_quote(other)
                    )))
                }
            };
            requirements.push(Requirement::new(
                expression.key.clone(),
                operator,
                expression.values.clone().unwrap_or_default(),
            )?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// A selector requiring exactly these labels (`matchLabels` alone, or a Service selector).
    pub fn from_set(labels: &BTreeMap<String, String>) -> Result<LabelSelector, SelectorError> {
        let requirements = labels
            .iter()
            .map(|(k, v)| Requirement::new(k.clone(), Operator::Equals, vec![v.clone()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LabelSelector {
            requirements,
            nothing: false,
        })
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for the selector that matches everything (no requirements).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for the selector that matches nothing.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// Whether all requirements hold for these labels.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The single value the selector demands for `key` (through `=`, `==` or a one-value `in`),
    /// which lets a caller narrow a lookup before matching.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let requirement = self.requirements.iter().find(|r| r.key == key)?;
        match (requirement.operator, requirement.values.as_slice()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical string form: requirements sorted by key, joined by `,`; empty for both the
    /// everything and the nothing selector, as in Kubernetes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

// ---- lexer -------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    End,
    OpenParen,
    CloseParen,
    Comma,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    In,
    NotIn,
    Identifier,
}

fn is_blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_symbol(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the selector into tokens. Identifiers run until a blank or an operator character, so
/// anything else (including `@` or non-ASCII text) lands in an identifier and is rejected later
/// by key or value validation, which is what produces Kubernetes' messages.
fn lex(input: &str) -> Vec<(Token, String)> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_blank(bytes[pos]) {
            pos += 1;
        }
        if pos >= bytes.len() {
            tokens.push((Token::End, String::new()));
            return tokens;
        }
        let c = bytes[pos];
        if is_symbol(c) {
            let two = bytes.get(pos..pos + 2);
            let (token, len) = match (c, two) {
                (_, Some(b"!=")) => (Token::NotEquals, 2),
                (_, Some(b"==")) => (Token::DoubleEquals, 2),
                (b'=', _) => (Token::Equals, 1),
                (b'!', _) => (Token::Bang, 1),
                (b'(', _) => (Token::OpenParen, 1),
                (b')', _) => (Token::CloseParen, 1),
                (b',', _) => (Token::Comma, 1),
                (b'>', _) => (Token::Greater, 1),
                _ => (Token::Less, 1),
            };
            tokens.push((token, input[pos..pos + len].to_string()));
            pos += len;
        } else {
            let start = pos;
            while pos < bytes.len() && !is_symbol(bytes[pos]) && !is_blank(bytes[pos]) {
                pos += 1;
            }
            // Both boundaries sit on ASCII bytes, so slicing the str here is always valid.
            let word = &input[start..pos];
            let token = match word {
                "in" => Token::In,
                "notin" => Token::NotIn,
                _ => Token::Identifier,
            };
            tokens.push((token, word.to_string()));
        }
    }
}

// ---- parser ------------------------------------------------------------------------------

/// Where the parser stands: `in` and `notin` are operators after a key but plain values
/// elsewhere (`tier in (in)` is legal).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    tokens: Vec<(Token, String)>,
    pos: usize,
}

impl Parser {
    fn peek(&self, context: Context) -> (Token, &str) {
        // The token list always ends with End, and the parser never consumes past it.
        let (token, literal) = &self.tokens[self.pos.min(self.tokens.len() - 1)];
        (Self::in_context(*token, context), literal)
    }

    fn next(&mut self, context: Context) -> (Token, String) {
        let (token, literal) = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        self.pos += 1;
        (Self::in_context(token, context), literal)
    }

    fn in_context(token: Token, context: Context) -> Token {
        match (token, context) {
            (Token::In | Token::NotIn, Context::Values) => Token::Identifier,
            _ => token,
        }
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.peek(Context::Values);
            match token {
                Token::Identifier | Token::Bang => {
                    let requirement = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    let (token, literal) = self.next(Context::Values);
                    match token {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let (token, literal) = self.peek(Context::Values);
                            if token != Token::Identifier && token != Token::Bang {
                                return Err(format!(
                                    "found '{literal}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!(
                                "found '{literal}', expected: ',' or 'end of string'"
                            ))
                        }
                    }
                }
                Token::End => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{literal}', expected: !, identifier, or 'end of string'"
                    ))
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (key, unary) = self.key_and_unary_operator()?;
        if let Some(operator) = unary {
            return Requirement::new(key, operator, Vec::new()).map_err(|e| e.to_string());
        }
        let operator = self.binary_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.single_value()?,
        };
        Requirement::new(key, operator, values).map_err(|e| e.to_string())
    }

    /// Reads `[!]key`; the operator is known right away for `!key` and for a bare `key`.
    fn key_and_unary_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut token, mut literal) = self.next(Context::Values);
        if token == Token::Bang {
            operator = Some(Operator::DoesNotExist);
            (token, literal) = self.next(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        let errors = label_key_errors(&literal);
        if !errors.is_empty() {
            // Kubernetes validates the key here without a field path, hence its "<nil>".
            return Err(invalid("<nil>", &go_quote(&literal), &errors.join("; ")));
        }
        let (next, _) = self.peek(Context::Values);
        if operator.is_none() && matches!(next, Token::End | Token::Comma) {
            operator = Some(Operator::Exists);
        }
        Ok((literal, operator))
    }

    fn binary_operator(&mut self) -> Result<Operator, String> {
        let (token, literal) = self.next(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::Greater => Operator::GreaterThan,
            Token::Less => Operator::LessThan,
            _ => {
                return Err(format!(
                    "found '{literal}', expected: in, notin, =, ==, !=, gt, lt"
                ))
            }
        })
    }

    /// `(a, b, ,c)`: empty members are the empty value; the result is sorted and de-duplicated.
    fn value_set(&mut self) -> Result<Vec<String>, String> {
        let (token, literal) = self.next(Context::Values);
        if token != Token::OpenParen {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.peek(Context::Values);
        let mut values = std::collections::BTreeSet::new();
        match token {
            Token::CloseParen => {
                self.next(Context::Values);
                values.insert(String::new());
            }
            Token::Identifier | Token::Comma => loop {
                let (token, literal) = self.next(Context::Values);
                match token {
                    Token::Identifier => {
                        values.insert(literal);
                        let (after, after_literal) = self.peek(Context::Values);
                        match after {
                            Token::Comma => continue,
                            Token::CloseParen => {
                                self.next(Context::Values);
                                break;
                            }
                            _ => {
                                return Err(format!(
                                    "found '{after_literal}', expected: ',' or ')'"
                                ))
                            }
                        }
                    }
                    Token::Comma => {
                        // A leading, doubled or trailing comma stands for an empty value.
                        if values.is_empty() {
                            values.insert(String::new());
                        }
                        match self.peek(Context::Values).0 {
                            Token::CloseParen => {
                                values.insert(String::new());
                                self.next(Context::Values);
                                break;
                            }
                            Token::Comma => {
                                values.insert(String::new());
                            }
                            _ => {}
                        }
                    }
                    _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
                }
            },
            _ => {
                return Err(format!(
                    "found '{literal}', expected: ',', ')' or identifier"
                ))
            }
        }
        Ok(values.into_iter().collect())
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; nothing at all means the empty value.
    fn single_value(&mut self) -> Result<Vec<String>, String> {
        if matches!(self.peek(Context::Values).0, Token::End | Token::Comma) {
            return Ok(vec![String::new()]);
        }
        let (token, literal) = self.next(Context::Values);
        if token == Token::Identifier {
            Ok(vec![literal])
        } else {
            Err(format!("found '{literal}', expected: identifier"))
        }
    }
}

// ---- Kubernetes-style error text ----------------------------------------------------------

/// `path: Invalid value: <value>: detail`, the layout of a Kubernetes field error.
fn invalid(path: &str, value: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {value}: {detail}")
}

/// Several errors become `[a, b]`, one stays as it is, duplicates are dropped.
fn aggregate(errors: Vec<String>) -> String {
    let mut unique: Vec<String> = Vec::new();
    for error in errors {
        if !unique.contains(&error) {
            unique.push(error);
        }
    }
    if unique.len() == 1 {
        unique.remove(0)
    } else {
        format!("[{}]", unique.join(", "))
    }
}

/// A string list printed the way Go's `%#v` prints a `[]string`.
fn go_string_slice(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn error(s: &str) -> String {
        LabelSelector::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn the_empty_string_selects_everything() {
        for s in ["", "   ", "\t\n"] {
            let selector = parse(s);
            assert!(selector.is_empty());
            assert!(selector.matches(&labels(&[])));
            assert!(selector.matches(&labels(&[("a", "b")])));
            assert_eq!(selector.to_string(), "");
        }
    }

    #[test]
    fn equality_operators_need_the_key_with_that_value() {
        for s in ["app=web", "app==web", "app = web", " app== web "] {
            let selector = parse(s);
            assert!(selector.matches(&labels(&[("app", "web")])), "{s}");
            assert!(!selector.matches(&labels(&[("app", "db")])), "{s}");
            assert!(!selector.matches(&labels(&[])), "{s}");
        }
    }

    #[test]
    fn not_equals_matches_when_the_key_is_absent() {
        let selector = parse("app!=web");
        assert!(selector.matches(&labels(&[])));
        assert!(selector.matches(&labels(&[("app", "db")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn in_matches_any_listed_value_and_needs_the_key() {
        let selector = parse("tier in (front, back)");
        assert!(selector.matches(&labels(&[("tier", "front")])));
        assert!(selector.matches(&labels(&[("tier", "back")])));
        assert!(!selector.matches(&labels(&[("tier", "cache")])));
        assert!(!selector.matches(&labels(&[])));
    }

    #[test]
    fn notin_matches_other_values_and_absent_keys() {
        let selector = parse("tier notin (front,back)");
        assert!(selector.matches(&labels(&[])));
        assert!(selector.matches(&labels(&[("tier", "cache")])));
        assert!(!selector.matches(&labels(&[("tier", "back")])));
    }

    #[test]
    fn a_bare_key_requires_it_and_a_bang_forbids_it() {
        let exists = parse("canary");
        assert!(exists.matches(&labels(&[("canary", "")])));
        assert!(!exists.matches(&labels(&[])));
        let absent = parse("!canary");
        assert!(absent.matches(&labels(&[])));
        assert!(!absent.matches(&labels(&[("canary", "yes")])));
        assert_eq!(absent.requirements()[0].operator(), Operator::DoesNotExist);
    }

    #[test]
    fn greater_and_less_compare_integers() {
        let selector = parse("gen>3,gen<10");
        assert!(selector.matches(&labels(&[("gen", "5")])));
        assert!(!selector.matches(&labels(&[("gen", "3")])));
        assert!(!selector.matches(&labels(&[("gen", "x")])));
        assert!(!selector.matches(&labels(&[])));
        assert_eq!(
            error("gen>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
    }

    #[test]
    fn requirements_are_anded() {
        let selector = parse("app=web,tier in (front),!legacy");
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!selector.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("legacy", "1")
        ])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn canonical_form_sorts_keys_and_set_values() {
        assert_eq!(
            parse("z=1, a in (c, b), !m, e, x==2, y!=3, n notin (q)").to_string(),
            "a in (b,c),e,!m,n notin (q),x==2,y!=3,z=1"
        );
        assert_eq!(parse("g>5").to_string(), "g>5");
        assert_eq!(parse("a=").to_string(), "a=");
    }

    #[test]
    fn empty_values_are_allowed_in_every_form() {
        let selector = parse("a=,b in (),c in (x,,y),d in (,)");
        let reqs = selector.requirements();
        assert_eq!(reqs[0].values(), [""]);
        assert_eq!(reqs[1].values(), [""]);
        assert_eq!(reqs[2].values(), ["", "x", "y"]);
        assert_eq!(reqs[3].values(), [""]);
        assert!(selector.matches(&labels(&[("a", ""), ("b", ""), ("c", ""), ("d", "")])));
    }

    #[test]
    fn in_and_notin_are_plain_values_inside_a_set() {
        let selector = parse("x in (in, notin)");
        assert_eq!(selector.requirements()[0].values(), ["in", "notin"]);
        assert!(selector.matches(&labels(&[("x", "notin")])));
    }

    #[test]
    fn prefixed_keys_parse() {
        let selector = parse("app.kubernetes.io/name=web");
        assert_eq!(
            selector.requires_exact_match("app.kubernetes.io/name"),
            Some("web")
        );
    }

    #[test]
    fn syntax_errors_read_like_kubernetes() {
        assert_eq!(error("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            error("a=b c"),
            "found 'c', expected: ',' or 'end of string'"
        );
        assert_eq!(
            error("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            error("=a"),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            error("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            error("a in (b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            error("a in (b,"),
            "unable to parse requirement: found '', expected: ',', or identifier"
        );
        assert_eq!(
            error("a (b)"),
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            error("a=(b)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            error("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(error("!a=b"), "found '=', expected: ',' or 'end of string'");
    }

    #[test]
    fn invalid_keys_and_values_are_reported_with_their_paths() {
        let message = error("a/b/c=d");
        assert!(
            message.starts_with("unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of"),
            "{message}"
        );
        assert_eq!(
            error("app=-bad"),
            "unable to parse requirement: values[0][app]: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        let long = "v".repeat(64);
        assert!(error(&format!("app={long}")).contains("must be no more than 63 characters"));
    }

    #[test]
    fn several_bad_values_are_aggregated() {
        let message = error("app in (-a, -b)");
        assert!(
            message
                .starts_with("unable to parse requirement: [values[0][app]: Invalid value: \"-a\""),
            "{message}"
        );
        assert!(
            message.contains(", values[1][app]: Invalid value: \"-b\""),
            "{message}"
        );
        assert!(message.ends_with(']'));
    }

    #[test]
    fn a_missing_api_selector_matches_nothing_and_an_empty_one_everything() {
        let nothing = LabelSelector::from_api(None).unwrap();
        assert!(nothing.matches_nothing());
        assert!(!nothing.matches(&labels(&[])));
        let everything = LabelSelector::from_api(Some(&metav1::LabelSelector::default())).unwrap();
        assert!(everything.is_empty());
        assert!(everything.matches(&labels(&[("a", "b")])));
    }

    #[test]
    fn api_selectors_combine_match_labels_and_expressions() {
        let api = metav1::LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                metav1::LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["front".into(), "edge".into()]),
                },
                metav1::LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        let selector = LabelSelector::from_api(Some(&api)).unwrap();
        assert_eq!(selector.to_string(), "app=web,!legacy,tier in (edge,front)");
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "edge")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "back")])));
    }

    #[test]
    fn api_selectors_reject_bad_operator_value_combinations() {
        let expr = |operator: &str, values: Option<Vec<String>>| metav1::LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![metav1::LabelSelectorRequirement {
                key: "k".into(),
                operator: operator.into(),
                values,
            }]),
        };
        let err =
            |s: metav1::LabelSelector| LabelSelector::from_api(Some(&s)).unwrap_err().to_string();
        assert_eq!(
            err(expr("In", None)),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
        assert_eq!(
            err(expr("Exists", Some(vec!["x".into()]))),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        assert_eq!(
            err(expr("Gt", Some(vec!["1".into()]))),
            "\"Gt\" is not a valid label selector operator"
        );
    }

    #[test]
    fn sets_become_equality_requirements() {
        let selector = LabelSelector::from_set(&labels(&[("b", "2"), ("a", "1")])).unwrap();
        assert_eq!(selector.to_string(), "a=1,b=2");
        assert!(selector.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "3")])));
    }
}
