//! Bearer tokens: only their SHA-256 is kept (in the configuration file, and for the
//! generated admin token in `<data_dir>/tokens.toml`), so a leaked configuration does
//! not leak a token. A token is 32 random bytes, shown as `stk_` + 64 hex digits.

use super::config::{ConfigError, RoleName, TokenEntry};
use crate::protocol::{Role, MAX_TOKEN_BYTES};
use crate::tools::durable_file::{write_atomically, Readers};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The file in the data folder holding the generated admin token's hash.
pub const GENERATED_TOKENS_FILE: &str = "tokens.toml";

/// What a presented token maps to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    /// The token's name, for logs.
    pub name: String,
}

/// Tokens by hash.
#[derive(Debug, Default)]
pub struct TokenStore {
    by_hash: FxHashMap<[u8; 32], Grant>,
}

#[derive(Default, Serialize, Deserialize)]
struct TokenFile {
    #[serde(default)]
    tokens: Vec<TokenEntry>,
}

impl TokenStore {
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a TokenEntry>) -> Result<TokenStore, ConfigError> {
        let mut store = TokenStore::default();
        for entry in entries {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&entry.sha256, &mut hash)
                .map_err(|_| ConfigError::Invalid(format!("token {:?}: sha256 must be 64 hex digits", entry.name)))?;
            let grant = Grant { role: entry.role.into(), name: entry.name.clone() };
            if store.by_hash.insert(hash, grant).is_some() {
                return Err(ConfigError::Invalid(format!("token {:?} is listed twice", entry.name)));
            }
        }
        Ok(store)
    }

    /// The grant of a presented token, if it is known.
    pub fn authenticate(&self, token: &str) -> Option<&Grant> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        self.by_hash.get(&hash_token(token))
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("stk_{}", hex::encode(bytes))
}

/// A configuration entry for a token.
pub fn token_entry(name: &str, role: RoleName, token: &str) -> TokenEntry {
    TokenEntry { name: name.to_owned(), role, sha256: hex::encode(hash_token(token)) }
}

/// The tokens kept in the data folder, generating an admin token there if the
/// folder has none and the configuration lists none. Returns the entries and the
/// new token in clear (to be shown once) if one was generated.
pub fn load_or_generate_admin(
    data_dir: &Path,
    configured: &[TokenEntry],
) -> Result<(Vec<TokenEntry>, Option<String>), ConfigError> {
    let path = data_dir.join(GENERATED_TOKENS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let file: TokenFile = toml::from_str(&text)
                .map_err(|error| ConfigError::Parse { path: path.clone(), message: error.to_string() })?;
            Ok((file.tokens, None))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if !configured.is_empty() {
                return Ok((Vec::new(), None));
            }
            let token = generate_token();
            let file = TokenFile { tokens: vec![token_entry("admin (generated)", RoleName::Admin, &token)] };
            write_private(&path, &toml::to_string_pretty(&file).expect("token entries serialise"))?;
            Ok((file.tokens, Some(token)))
        }
        Err(source) => Err(ConfigError::Read { path, source }),
    }
}

/// Writes a file only its owner can read, atomically and durably.
fn write_private(path: &Path, text: &str) -> Result<(), ConfigError> {
    write_atomically(path, text.as_bytes(), Readers::OwnerOnly)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_by_hash_only() {
        let token = generate_token();
        assert!(token.starts_with("stk_") && token.len() == 68);
        let entries = [token_entry("checkout", RoleName::Reserve, &token)];
        assert!(!entries[0].sha256.contains(&token[4..]));
        let store = TokenStore::from_entries(&entries).unwrap();
        assert_eq!(store.authenticate(&token).unwrap().role, Role::Reserve);
        assert!(store.authenticate("stk_wrong").is_none());
        assert!(store.authenticate("").is_none());
        assert!(store.authenticate(&"x".repeat(MAX_TOKEN_BYTES + 1)).is_none());
        let twice = [entries[0].clone(), entries[0].clone()];
        assert!(TokenStore::from_entries(&twice).is_err());
    }

    #[test]
    fn the_admin_token_is_generated_once_and_kept_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let (entries, shown) = load_or_generate_admin(dir.path(), &[]).unwrap();
        let token = shown.expect("generated on first start");
        let store = TokenStore::from_entries(&entries).unwrap();
        assert_eq!(store.authenticate(&token).unwrap().role, Role::Admin);
        let file = std::fs::read_to_string(dir.path().join(GENERATED_TOKENS_FILE)).unwrap();
        assert!(!file.contains(&token[4..]), "only the hash is stored");
        let (again, shown) = load_or_generate_admin(dir.path(), &[]).unwrap();
        assert_eq!(again, entries);
        assert!(shown.is_none(), "printed once only");
    }

    #[test]
    fn configured_tokens_suppress_the_generated_one() {
        let dir = tempfile::tempdir().unwrap();
        let configured = [token_entry("ops", RoleName::Admin, "stk_x")];
        let (entries, shown) = load_or_generate_admin(dir.path(), &configured).unwrap();
        assert!(entries.is_empty() && shown.is_none());
    }
}
