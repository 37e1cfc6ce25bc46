//! The server's operators (who sign in to the console) and the audit log of
//! what they did. Operators are not users of an app: they act on every app,
//! through the same services the dialects use; this service only knows who
//! they are and remembers what they did.

use std::sync::Arc;

use crate::auth;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::{AuditEntry, Operator};

/// The longest operator name.
pub const MAX_OPERATOR_NAME: usize = 64;
/// The shortest operator password: a console reaches every app's data.
pub const MIN_OPERATOR_PASSWORD: usize = 12;
/// The most entries one read of the audit log returns.
pub const MAX_AUDIT_PAGE: usize = 200;
/// The longest `detail` an audit entry keeps.
const MAX_AUDIT_DETAIL: usize = 1_000;

#[derive(Clone)]
pub struct OperatorService {
    deps: Arc<Deps>,
}

impl OperatorService {
    pub(crate) fn new(deps: Arc<Deps>) -> OperatorService {
        OperatorService { deps }
    }

    /// Creates the operator or sets a new password (sessions made with the
    /// old one end, since they are signed with it).
    pub async fn set_password(&self, name: &str, password: String) -> Result<()> {
        check_name(name)?;
        check_password(&password)?;
        let hash = self.deps.hashing.run(move || auth::hash_password(&password)).await??;
        self.deps.store.put_operator(name, hash, self.deps.clock.now_ms()).await
    }

    /// On a server with no operator yet, creates `name` with a new random
    /// password and returns it (to be shown once); `None` when there is one.
    pub async fn create_first(&self, name: &str) -> Result<Option<String>> {
        check_name(name)?;
        let password = auth::random_key(20);
        let hash = {
            let password = password.clone();
            self.deps.hashing.run(move || auth::hash_password(&password)).await??
        };
        let made = self.deps.store.add_first_operator(name, hash, self.deps.clock.now_ms()).await?;
        Ok(made.then_some(password))
    }

    pub async fn get(&self, name: &str) -> Result<Option<Operator>> {
        if check_name(name).is_err() {
            return Ok(None);
        }
        self.deps.store.operator(name).await
    }

    /// The operator, if the password is theirs. Hashes even for an unknown
    /// name, so the answer's time does not say which names exist.
    pub async fn sign_in(&self, name: &str, password: String) -> Result<Option<Operator>> {
        let operator = self.get(name).await?;
        let stored = operator.as_ref().map(|o| o.password_hash.clone());
        let matches = self
            .deps
            .hashing
            .run(move || match stored {
                Some(stored) => auth::verify_password(&password, &stored),
                None => {
                    // A hash of a password nobody has: the same work for an unknown name.
                    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
                    let decoy = DECOY.get_or_init(|| auth::hash_password(&auth::random_key(20)).unwrap_or_default());
                    let _ = auth::verify_password(&password, decoy);
                    false
                }
            })
            .await?;
        Ok(operator.filter(|_| matches))
    }

    /// Writes one entry to the audit log, stamped now.
    pub async fn record(&self, mut entry: AuditEntry) -> Result<()> {
        entry.at_ms = self.deps.clock.now_ms();
        if let Some(detail) = &mut entry.detail {
            if detail.len() > MAX_AUDIT_DETAIL {
                let cut = (0..=MAX_AUDIT_DETAIL).rev().find(|i| detail.is_char_boundary(*i)).unwrap_or(0);
                detail.truncate(cut);
            }
        }
        self.deps.store.append_audit(entry).await
    }

    /// The audit log, newest first, older than the entry `before`.
    pub async fn audit_log(&self, before: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>> {
        self.deps.store.audit_log(before, limit.clamp(1, MAX_AUDIT_PAGE)).await
    }
}

/// Letters, digits, `_` and `-`: names appear in cookies (split at '.') and logs.
fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= MAX_OPERATOR_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!("an operator name is 1 to {MAX_OPERATOR_NAME} letters, digits, '_' or '-'")))
}

fn check_password(password: &str) -> Result<()> {
    let length = password.chars().count();
    if (MIN_OPERATOR_PASSWORD..=auth::MAX_PASSWORD_LEN).contains(&length) {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "an operator password is {MIN_OPERATOR_PASSWORD} to {} characters",
        auth::MAX_PASSWORD_LEN
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain() {
        assert!(check_name("admin").is_ok());
        assert!(check_name("ops-team_1").is_ok());
        assert!(check_name("a.b").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn passwords_are_long_enough() {
        assert!(check_password("short").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password(&"x".repeat(65)).is_err());
    }
}
