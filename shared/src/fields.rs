//! Typed access to a request body's fields, gathering every problem into one 400 instead of
//! failing on the first; and the fields with rules of their own (e-mail, new password and how
//! guessable it is).

use std::collections::BTreeMap;

use lambda_http::Request;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::http::body_object;
use crate::password::MAX_PASSWORD_CHARS;
use crate::validate::{is_email, MIN_PASSWORD_CHARS};

/// Typed access to a body's fields, collecting every problem before answering 400.
pub struct Fields {
    map: Map<String, Value>,
    problems: BTreeMap<String, String>,
}

impl Fields {
    pub fn from_request(req: &Request) -> ApiResult<Self> {
        Ok(Self::new(body_object(req)?))
    }

    /// As [`Fields::from_request`], where a body is optional: none at all is no fields.
    pub fn from_request_or_empty(req: &Request) -> ApiResult<Self> {
        let body: &[u8] = req.body().as_ref();
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::new(Map::new()));
        }
        Self::from_request(req)
    }

    pub fn new(map: Map<String, Value>) -> Self {
        Fields {
            map,
            problems: BTreeMap::new(),
        }
    }

    /// A required, non-blank string of at most `max` characters, trimmed.
    pub fn required_str(&mut self, name: &str, max: usize) -> String {
        match self.optional_str(name, max) {
            Some(s) if !s.is_empty() => s,
            Some(_) => {
                self.problem(name, "This field may not be blank.");
                String::new()
            }
            None => {
                if !self.problems.contains_key(name) {
                    self.problem(name, "This field is required.");
                }
                String::new()
            }
        }
    }

    /// A string if present (null counts as absent), trimmed; a wrong type is a problem.
    pub fn optional_str(&mut self, name: &str, max: usize) -> Option<String> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.chars().count() > max {
                    self.problem(name, &format!("Must be at most {max} characters."));
                    None
                } else if s.chars().any(char::is_control) {
                    self.problem(name, "Must not contain control characters.");
                    None
                } else {
                    Some(s.to_string())
                }
            }
            Some(_) => {
                self.problem(name, "Must be a string.");
                None
            }
        }
    }

    /// A required string taken exactly as sent (passwords, tokens): not trimmed.
    pub fn required_secret(&mut self, name: &str, max: usize) -> String {
        match self.map.get(name) {
            Some(Value::String(s)) if s.is_empty() => {
                self.problem(name, "This field may not be blank.");
                String::new()
            }
            Some(Value::String(s)) if s.chars().count() > max => {
                self.problem(name, &format!("Must be at most {max} characters."));
                String::new()
            }
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => {
                self.problem(name, "This field is required.");
                String::new()
            }
            Some(_) => {
                self.problem(name, "Must be a string.");
                String::new()
            }
        }
    }

    /// An optional string taken exactly as sent (a password asked only in some cases): absent
    /// or null is `None`; anything else is judged as [`Fields::required_secret`] judges it.
    pub fn optional_secret(&mut self, name: &str, max: usize) -> Option<String> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(_) => Some(self.required_secret(name, max)),
        }
    }

    /// An optional id: a positive whole number below 2^53, as a JSON number or (form bodies) a
    /// string of digits; anything else is a problem.
    pub fn optional_u64(&mut self, name: &str) -> Option<u64> {
        let parsed = match self.map.get(name) {
            None | Some(Value::Null) => return None,
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) if !s.starts_with('+') => s.trim().parse().ok(),
            Some(_) => None,
        };
        match parsed {
            Some(n) if n > 0 && n < (1 << 53) => Some(n),
            _ => {
                self.problem(name, "Must be a positive whole number.");
                None
            }
        }
    }

    /// Records a problem with a field (the first one per field is kept).
    pub fn problem(&mut self, name: &str, message: &str) {
        self.problems
            .entry(name.to_string())
            .or_insert_with(|| message.to_string());
    }

    /// Ends parsing: 400 listing every problem, if there were any.
    pub fn finish(self) -> ApiResult<()> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_fields(self.problems))
        }
    }
}

impl Fields {
    /// A required e-mail address, lower-cased.
    pub fn email(&mut self, name: &str, required: bool) -> Option<String> {
        let value = if required {
            Some(self.required_str(name, 254))
        } else {
            self.optional_str(name, 254)
        }?;
        if value.is_empty() {
            return None;
        }
        if !is_email(&value) {
            self.problem(name, "Enter a valid e-mail address.");
            return None;
        }
        Some(value.to_lowercase())
    }

    /// A new password and its confirmation: present, equal, 8 to 128 characters.
    pub fn new_password(&mut self, name: &str, confirmation: &str) -> String {
        let password = self.required_secret(name, MAX_PASSWORD_CHARS);
        let again = self.required_secret(confirmation, MAX_PASSWORD_CHARS);
        if !password.is_empty() && password.chars().count() < MIN_PASSWORD_CHARS {
            self.problem(
                name,
                &format!("Must be at least {MIN_PASSWORD_CHARS} characters."),
            );
        } else if !password.is_empty() && !again.is_empty() && password != again {
            self.problem(confirmation, "The two passwords do not match.");
        }
        password
    }

    /// Refuses `password` (the field `name`) when it is too easy to guess for someone who gave
    /// `context` (username, e-mail, name, phone), saying why ([`crate::strength`]). It runs
    /// only once every other check has passed (a request with any other problem is answered
    /// without it), so it judges a password that is otherwise acceptable.
    pub fn refuse_guessable_password(&mut self, name: &str, password: &str, context: &[&str]) {
        if !self.problems.is_empty() {
            return;
        }
        if let Some(why) = crate::strength::weakness(password, context) {
            self.problem(name, &why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_reports_every_problem_at_once() {
        let mut f = Fields::new(serde_json::from_str(r#"{"a": 5, "b": "  ", "d": "ok"}"#).unwrap());
        f.required_str("a", 10);
        f.required_str("b", 10);
        f.required_str("c", 10);
        assert_eq!(f.required_str("d", 10), "ok");
        let err = f.finish().unwrap_err();
        assert_eq!(err.fields.len(), 3);
        assert_eq!(err.fields["a"], "Must be a string.");
        assert_eq!(err.fields["b"], "This field may not be blank.");
        assert_eq!(err.fields["c"], "This field is required.");
    }
}
