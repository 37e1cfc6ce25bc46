//! LeanCloud's `where` query language over conversations, with `order`,
//! `skip` and `limit`: equality (an array field matches when it holds the
//! value), `$ne $lt $lte $gt $gte $in $nin $exists $all $size $regex`, `$or`,
//! `$and` (or a top-level array), dotted paths into objects, and dates as
//! `{"__type": "Date", "iso": …}`.

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// A parsed `where`.
#[derive(Debug)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Field(String, Vec<Condition>),
}

#[derive(Debug)]
pub enum Condition {
    Eq(Value),
    Ne(Value),
    Lt(Value),
    Lte(Value),
    Gt(Value),
    Gte(Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    ContainsAll(Vec<Value>),
    Size(usize),
    Regex(regex::Regex),
}

/// Parses a `where` parameter; the error says what is wrong.
pub fn parse(raw: &str) -> Result<Filter, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| format!("where is not JSON: {e}"))?;
    filter(&value)
}

fn filter(value: &Value) -> Result<Filter, String> {
    match value {
        Value::Array(items) => Ok(Filter::All(items.iter().map(filter).collect::<Result<_, _>>()?)),
        Value::Object(fields) => {
            let mut parts = Vec::with_capacity(fields.len());
            for (key, value) in fields {
                parts.push(match key.as_str() {
                    "$or" | "$and" => {
                        let Value::Array(items) = value else {
                            return Err(format!("{key} takes an array of queries"));
                        };
                        let subs = items.iter().map(filter).collect::<Result<Vec<_>, _>>()?;
                        if key == "$or" {
                            Filter::Any(subs)
                        } else {
                            Filter::All(subs)
                        }
                    }
                    op if op.starts_with('$') => return Err(format!("{op} is not a query operator here")),
                    path => Filter::Field(path.to_owned(), conditions(path, value)?),
                });
            }
            Ok(Filter::All(parts))
        }
        _ => Err("where must be a JSON object or array".into()),
    }
}

fn conditions(path: &str, value: &Value) -> Result<Vec<Condition>, String> {
    let Value::Object(ops) = value else {
        return Ok(vec![Condition::Eq(value.clone())]);
    };
    if !ops.keys().any(|k| k.starts_with('$')) {
        return Ok(vec![Condition::Eq(value.clone())]);
    }
    let mut out = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let list = || match operand {
            Value::Array(items) => Ok(items.clone()),
            _ => Err(format!("{path}: {op} takes an array")),
        };
        out.push(match op.as_str() {
            "$ne" => Condition::Ne(operand.clone()),
            "$lt" => Condition::Lt(operand.clone()),
            "$lte" => Condition::Lte(operand.clone()),
            "$gt" => Condition::Gt(operand.clone()),
            "$gte" => Condition::Gte(operand.clone()),
            "$in" => Condition::In(list()?),
            "$nin" => Condition::Nin(list()?),
            "$all" => Condition::ContainsAll(list()?),
            "$exists" => {
                Condition::Exists(operand.as_bool().ok_or_else(|| format!("{path}: $exists takes true or false"))?)
            }
            "$size" => {
                Condition::Size(operand.as_u64().ok_or_else(|| format!("{path}: $size takes a number"))? as usize)
            }
            "$regex" => {
                let pattern = operand.as_str().ok_or_else(|| format!("{path}: $regex takes a string"))?;
                let flags = ops.get("$options").and_then(Value::as_str).unwrap_or_default();
                if let Some(bad) = flags.chars().find(|c| !"imxs".contains(*c)) {
                    return Err(format!("{path}: $options may hold i, m, x and s, not {bad}"));
                }
                let pattern = if flags.is_empty() { pattern.to_owned() } else { format!("(?{flags}){pattern}") };
                let regex = regex::RegexBuilder::new(&pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("{path}: $regex: {e}"))?;
                Condition::Regex(regex)
            }
            "$options" if ops.contains_key("$regex") => continue,
            other => return Err(format!("{path}: {other} is not supported")),
        });
    }
    Ok(out)
}

/// A value at a dotted path.
fn at<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |value, key| value.get(key))
}

/// Dates compare by their ISO text, which orders as time does.
fn plain(value: &Value) -> &Value {
    match value {
        Value::Object(fields) if fields.get("__type").and_then(Value::as_str) == Some("Date") => {
            fields.get("iso").unwrap_or(value)
        }
        other => other,
    }
}

/// How two JSON values order (numbers, strings, booleans; `None` across kinds).
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (plain(a), plain(b)) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Some(Ordering::Equal) || plain(a) == plain(b)
}

/// Equality as the vendor defines it: an array field matches when it holds the value.
fn matches_value(field: Option<&Value>, wanted: &Value) -> bool {
    match field {
        Some(Value::Array(items)) if !wanted.is_array() => items.iter().any(|i| equal(i, wanted)),
        Some(value) => equal(value, wanted),
        None => wanted.is_null(),
    }
}

impl Filter {
    pub fn matches(&self, doc: &Value) -> bool {
        match self {
            Filter::All(parts) => parts.iter().all(|p| p.matches(doc)),
            Filter::Any(parts) => parts.iter().any(|p| p.matches(doc)),
            Filter::Field(path, conditions) => {
                let field = at(doc, path);
                conditions.iter().all(|c| c.holds(field))
            }
        }
    }

    /// A member every match must have, if the query requires one at the top
    /// (`{"m": "a"}` or `{"m": {"$all": [...]}}`): only that member's
    /// conversations need to be looked at.
    pub fn required_member(&self) -> Option<String> {
        match self {
            Filter::All(parts) => parts.iter().find_map(Filter::required_member),
            Filter::Any(_) => None,
            Filter::Field(path, conditions) if path == "m" => conditions.iter().find_map(|c| match c {
                Condition::Eq(Value::String(s)) => Some(s.clone()),
                Condition::ContainsAll(values) => values.first().and_then(Value::as_str).map(str::to_owned),
                _ => None,
            }),
            Filter::Field(..) => None,
        }
    }
}

impl Condition {
    fn holds(&self, field: Option<&Value>) -> bool {
        let ordered =
            |operand: &Value, accept: fn(Ordering) -> bool| field.and_then(|f| compare(f, operand)).is_some_and(accept);
        match self {
            Condition::Eq(v) => matches_value(field, v),
            Condition::Ne(v) => !matches_value(field, v),
            Condition::Lt(v) => ordered(v, |o| o == Ordering::Less),
            Condition::Lte(v) => ordered(v, |o| o != Ordering::Greater),
            Condition::Gt(v) => ordered(v, |o| o == Ordering::Greater),
            Condition::Gte(v) => ordered(v, |o| o != Ordering::Less),
            Condition::In(values) => values.iter().any(|v| matches_value(field, v)),
            Condition::Nin(values) => !values.iter().any(|v| matches_value(field, v)),
            Condition::Exists(wanted) => field.is_some_and(|f| !f.is_null()) == *wanted,
            Condition::ContainsAll(values) => match field {
                Some(Value::Array(items)) => values.iter().all(|v| items.iter().any(|i| equal(i, v))),
                _ => false,
            },
            Condition::Size(n) => matches!(field, Some(Value::Array(items)) if items.len() == *n),
            Condition::Regex(regex) => field.and_then(Value::as_str).is_some_and(|s| regex.is_match(s)),
        }
    }
}

/// `order`: comma-separated fields, `-` for descending.
pub fn parse_order(raw: &str) -> Vec<(String, bool)> {
    raw.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| match f.strip_prefix('-') {
            Some(name) => (name.to_owned(), true),
            None => (f.to_owned(), false),
        })
        .collect()
}

/// Sorts documents by `order` (missing values first, as the smallest).
pub fn sort(docs: &mut [Map<String, Value>], order: &[(String, bool)]) {
    docs.sort_by(|a, b| {
        let (a, b) = (Value::Object(a.clone()), Value::Object(b.clone()));
        for (field, descending) in order {
            let ordering = match (at(&a, field), at(&b, field)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => compare(x, y).unwrap_or(Ordering::Equal),
            };
            let ordering = if *descending { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"name": "team", "m": ["a", "b", "c"], "level": 3, "attr": {"kind": "work"},
               "createdAt": "2020-05-26T06:42:31.482Z"})
    }

    fn hit(q: &str) -> bool {
        parse(q).unwrap().matches(&doc())
    }

    #[test]
    fn every_operator_behaves_as_documented() {
        assert!(hit(r#"{"name": "team"}"#));
        assert!(hit(r#"{"m": "b"}"#), "an array field matches a value it holds");
        assert!(!hit(r#"{"m": "z"}"#));
        assert!(hit(r#"{"name": {"$ne": "x"}}"#));
        assert!(hit(r#"{"level": {"$gt": 2, "$lte": 3}}"#));
        assert!(!hit(r#"{"level": {"$lt": 3}}"#));
        assert!(hit(r#"{"name": {"$in": ["x", "team"]}}"#));
        assert!(hit(r#"{"name": {"$nin": ["x", "y"]}}"#));
        assert!(hit(r#"{"attr.kind": "work"}"#), "dotted paths reach into objects");
        assert!(hit(r#"{"attr": {"$exists": true}, "gone": {"$exists": false}}"#));
        assert!(hit(r#"{"m": {"$all": ["a", "c"]}}"#));
        assert!(!hit(r#"{"m": {"$all": ["a", "z"]}}"#));
        assert!(hit(r#"{"m": {"$size": 3}}"#));
        assert!(hit(r#"{"name": {"$regex": "^TE", "$options": "i"}}"#));
        assert!(hit(r#"{"createdAt": {"$gte": {"__type": "Date", "iso": "2020-01-01T00:00:00.000Z"}}}"#));
        assert!(hit(r#"{"$or": [{"name": "x"}, {"level": 3}]}"#));
        assert!(hit(r#"[{"name": "team"}, {"level": 3}]"#), "a top-level array is $and");
        assert!(!hit(r#"{"$and": [{"name": "team"}, {"level": 4}]}"#));
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        assert!(parse("{not json").unwrap_err().contains("not JSON"));
        assert!(parse(r#"{"a": {"$near": 1}}"#).unwrap_err().contains("$near"));
        assert!(parse(r#"{"a": {"$in": 1}}"#).unwrap_err().contains("array"));
        assert!(parse(r#"{"a": {"$regex": "("}}"#).is_err());
        assert!(parse(r#"{"$or": {}}"#).is_err());
        assert!(parse("3").is_err());
    }

    #[test]
    fn member_hints_and_order() {
        assert_eq!(parse(r#"{"m": "a", "name": "x"}"#).unwrap().required_member(), Some("a".into()));
        assert_eq!(parse(r#"{"$or": [{"m": "a"}]}"#).unwrap().required_member(), None);
        assert_eq!(parse_order("-updatedAt, name"), vec![("updatedAt".into(), true), ("name".into(), false)]);
    }
}
