//! Settings an admin changes while the service runs: stored in the `settings` table over
//! the values from the environment, read through the short metadata cache. A change is
//! seen by this process on its next request (the cache is dropped) and by other
//! processes within `COFFER_CACHE_TTL_MS`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Set};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::cache::TtlCache;
use crate::config::{Settings, MAX_API_TOKEN_DAYS, MAX_PARTS, MAX_PRESIGN_TTL, MIN_PART_SIZE};
use crate::entity::settings;
use crate::entity::users::Role;
use crate::http::media_type::content_type;

/// Longest list of allowed content types.
const MAX_CONTENT_TYPES: usize = 200;
/// Most lifecycle rules.
const MAX_LIFECYCLE_RULES: usize = 100;

/// What a lifecycle rule does with the files it matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleAction {
    /// Move them to their owner's trash (deleted for good when the retention ends; at
    /// once when `trash_retention_days` is 0).
    #[default]
    Trash,
    /// Delete them for good now.
    Delete,
}

/// An expiration rule: files not changed for `min_age_days`, of `users` (all when
/// empty), under `folder_id` (anywhere when absent), are trashed or deleted by each run
/// of the schedule (`tier_schedule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRule {
    /// Names the rule in plans and the audit log.
    #[schema(example = "scratch older than 90 days")]
    pub name: String,
    #[schema(minimum = 1, maximum = 36500)]
    pub min_age_days: u32,
    /// Usernames; empty: everyone.
    #[serde(default)]
    pub users: Vec<String>,
    /// Only files in this folder and below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder_id: Option<Uuid>,
    #[serde(default)]
    pub action: LifecycleAction,
}

/// The settings in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuntimeSettings {
    /// Whether anyone may create an account with `POST /auth/register`.
    pub registration_open: bool,
    /// Role of new accounts.
    pub default_role: Role,
    /// Byte quota of new accounts.
    pub default_quota_bytes: i64,
    /// Object quota of new accounts.
    pub default_quota_objects: i64,
    /// Content types uploads may declare (`type/subtype` or `type/*`); empty allows all.
    pub allowed_content_types: Vec<String>,
    /// Largest upload accepted.
    pub max_upload_bytes: u64,
    /// Lifetime of the presigned URLs handed out, in seconds (at most 7 days).
    pub presign_ttl_seconds: u64,
    /// Longest lifetime of a new API token, in days.
    pub api_token_max_days: u32,
    /// Whether command-line clients may sign in with device login.
    pub device_login_enabled: bool,
    /// Days a deleted file or folder stays in its owner's trash; 0 deletes at once.
    pub trash_retention_days: u32,
    /// When the cloud sync runs: a cron expression (5 fields, or 6 with seconds first).
    pub tier_schedule: String,
    /// The IANA time zone the schedule is read in (`UTC`, `Europe/Paris`, ...).
    pub tier_time_zone: String,
    /// Files younger than this are not synced yet, in seconds.
    pub tier_min_age_seconds: u64,
    /// Files smaller than this stay on the primary store only.
    pub tier_min_size_bytes: u64,
    /// Only these users' files are synced; empty: everyone's.
    pub tier_users: Vec<String>,
    /// Files copied at once by one worker.
    pub tier_concurrency: u32,
    /// Most bytes per second one worker sends to the cloud; 0: no cap.
    pub tier_bandwidth_bytes_per_second: u64,
    /// Most bytes one run plans to copy; 0: no cap.
    pub tier_max_bytes_per_run: u64,
    /// Whether a run deletes primary copies whose cloud copy is verified.
    pub tier_release_primary: bool,
    /// How long a cloud copy must have been verified before its primary copy goes, in seconds.
    pub tier_release_grace_seconds: u64,
    /// A run that would release more than this share (percent) of all primary bytes
    /// waits for an admin's confirmation.
    pub tier_release_max_percent: u32,
    /// Expiration rules applied by each run of the schedule.
    pub lifecycle_rules: Vec<LifecycleRule>,
}

impl RuntimeSettings {
    /// The values the environment gives, before any change stored in the database.
    pub fn from_config(s: &Settings) -> RuntimeSettings {
        RuntimeSettings {
            registration_open: s.registration_open,
            default_role: Role::User,
            default_quota_bytes: s.default_quota_bytes,
            default_quota_objects: s.default_quota_objects,
            allowed_content_types: s.uploads.allowed_content_types.clone(),
            max_upload_bytes: s.uploads.max_upload_bytes,
            presign_ttl_seconds: s.uploads.presign_ttl.as_secs(),
            api_token_max_days: s.api_token_max_days,
            device_login_enabled: s.device_login_enabled,
            trash_retention_days: s.trash_retention_days,
            tier_schedule: "0 0 * * *".into(),
            tier_time_zone: "UTC".into(),
            tier_min_age_seconds: 3600,
            tier_min_size_bytes: 0,
            tier_users: Vec::new(),
            tier_concurrency: 4,
            tier_bandwidth_bytes_per_second: 0,
            tier_max_bytes_per_run: 0,
            tier_release_primary: false,
            tier_release_grace_seconds: 86_400,
            tier_release_max_percent: 10,
            lifecycle_rules: Vec::new(),
        }
    }

    pub fn presign_ttl(&self) -> Duration {
        Duration::from_secs(self.presign_ttl_seconds)
    }

    /// How long a deleted item stays in the trash; `None`: deletes are final.
    pub fn trash_retention(&self) -> Option<chrono::Duration> {
        (self.trash_retention_days > 0)
            .then(|| chrono::Duration::days(i64::from(self.trash_retention_days)))
    }

    /// These settings with the stored rows laid over them. A row this version does not
    /// know, or whose value no longer fits, is skipped with a warning.
    fn overlaid(&self, rows: Vec<settings::Model>) -> RuntimeSettings {
        let mut map = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => return self.clone(),
        };
        for row in rows {
            match (map.contains_key(&row.key), serde_json::from_str(&row.value)) {
                (true, Ok(value)) => {
                    map.insert(row.key, value);
                }
                _ => tracing::warn!(key = %row.key, "stored setting ignored"),
            }
        }
        let merged: Result<RuntimeSettings, _> = serde_json::from_value(Value::Object(map));
        match merged {
            Ok(merged) if SettingsPatch::from(&merged).validate().is_ok() => merged,
            _ => {
                tracing::warn!("stored settings do not fit together; using the environment's");
                self.clone()
            }
        }
    }
}

/// A change of settings: only the fields given change.
#[derive(Debug, Default, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub registration_open: Option<bool>,
    #[schema(value_type = Option<Role>)]
    pub default_role: Option<String>,
    #[schema(minimum = 0)]
    pub default_quota_bytes: Option<i64>,
    #[schema(minimum = 0)]
    pub default_quota_objects: Option<i64>,
    pub allowed_content_types: Option<Vec<String>>,
    #[schema(minimum = 1)]
    pub max_upload_bytes: Option<u64>,
    #[schema(minimum = 1, maximum = 604800)]
    pub presign_ttl_seconds: Option<u64>,
    #[schema(minimum = 1, maximum = 3650)]
    pub api_token_max_days: Option<u32>,
    pub device_login_enabled: Option<bool>,
    #[schema(maximum = 3650)]
    pub trash_retention_days: Option<u32>,
    #[schema(example = "0 0 * * *")]
    pub tier_schedule: Option<String>,
    #[schema(example = "Europe/Paris")]
    pub tier_time_zone: Option<String>,
    pub tier_min_age_seconds: Option<u64>,
    pub tier_min_size_bytes: Option<u64>,
    pub tier_users: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 64)]
    pub tier_concurrency: Option<u32>,
    pub tier_bandwidth_bytes_per_second: Option<u64>,
    pub tier_max_bytes_per_run: Option<u64>,
    pub tier_release_primary: Option<bool>,
    pub tier_release_grace_seconds: Option<u64>,
    #[schema(maximum = 100)]
    pub tier_release_max_percent: Option<u32>,
    pub lifecycle_rules: Option<Vec<LifecycleRule>>,
}

impl From<&RuntimeSettings> for SettingsPatch {
    fn from(s: &RuntimeSettings) -> SettingsPatch {
        SettingsPatch {
            registration_open: Some(s.registration_open),
            default_role: Some(s.default_role.to_string()),
            default_quota_bytes: Some(s.default_quota_bytes),
            default_quota_objects: Some(s.default_quota_objects),
            allowed_content_types: Some(s.allowed_content_types.clone()),
            max_upload_bytes: Some(s.max_upload_bytes),
            presign_ttl_seconds: Some(s.presign_ttl_seconds),
            api_token_max_days: Some(s.api_token_max_days),
            device_login_enabled: Some(s.device_login_enabled),
            trash_retention_days: Some(s.trash_retention_days),
            tier_schedule: Some(s.tier_schedule.clone()),
            tier_time_zone: Some(s.tier_time_zone.clone()),
            tier_min_age_seconds: Some(s.tier_min_age_seconds),
            tier_min_size_bytes: Some(s.tier_min_size_bytes),
            tier_users: Some(s.tier_users.clone()),
            tier_concurrency: Some(s.tier_concurrency),
            tier_bandwidth_bytes_per_second: Some(s.tier_bandwidth_bytes_per_second),
            tier_max_bytes_per_run: Some(s.tier_max_bytes_per_run),
            tier_release_primary: Some(s.tier_release_primary),
            tier_release_grace_seconds: Some(s.tier_release_grace_seconds),
            tier_release_max_percent: Some(s.tier_release_max_percent),
            lifecycle_rules: Some(s.lifecycle_rules.clone()),
        }
    }
}

impl SettingsPatch {
    /// Lower-cases the content types, so they compare as declared types do.
    pub fn normalized(mut self) -> SettingsPatch {
        if let Some(types) = &mut self.allowed_content_types {
            for t in types.iter_mut() {
                *t = t.trim().to_ascii_lowercase();
            }
            types.sort();
            types.dedup();
        }
        self
    }

    /// What is wrong with the change, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(role) = self.default_role.as_deref() {
            if crate::entity::parse::<Role>(role).is_none() {
                return Err("default_role must be `user` or `admin`.".into());
            }
        }
        if self.default_quota_bytes.is_some_and(|b| b < 0)
            || self.default_quota_objects.is_some_and(|o| o < 0)
        {
            return Err("Default quotas cannot be negative.".into());
        }
        let max_upload = MIN_PART_SIZE * 1024 * MAX_PARTS;
        if self
            .max_upload_bytes
            .is_some_and(|b| b == 0 || b > max_upload)
        {
            return Err(format!(
                "max_upload_bytes must be between 1 and {max_upload} (50 TiB)."
            ));
        }
        let max_ttl = MAX_PRESIGN_TTL.as_secs();
        if self
            .presign_ttl_seconds
            .is_some_and(|s| s == 0 || s > max_ttl)
        {
            return Err(format!(
                "presign_ttl_seconds must be between 1 and {max_ttl} (7 days)."
            ));
        }
        if self
            .api_token_max_days
            .is_some_and(|d| d == 0 || d > MAX_API_TOKEN_DAYS)
        {
            return Err(format!(
                "api_token_max_days must be between 1 and {MAX_API_TOKEN_DAYS}."
            ));
        }
        if self.trash_retention_days.is_some_and(|d| d > 3650) {
            return Err("trash_retention_days must be between 0 and 3650.".into());
        }
        if let Some(schedule) = &self.tier_schedule {
            crate::schedule::parse_cron(schedule)?;
        }
        if let Some(zone) = &self.tier_time_zone {
            crate::schedule::parse_zone(zone)?;
        }
        if self.tier_concurrency.is_some_and(|c| c == 0 || c > 64) {
            return Err("tier_concurrency must be between 1 and 64.".into());
        }
        if self.tier_release_max_percent.is_some_and(|p| p > 100) {
            return Err("tier_release_max_percent must be between 0 and 100.".into());
        }
        if self.tier_users.as_ref().is_some_and(|u| u.len() > 1000) {
            return Err("At most 1000 tier_users.".into());
        }
        if let Some(rules) = &self.lifecycle_rules {
            if rules.len() > MAX_LIFECYCLE_RULES {
                return Err(format!("At most {MAX_LIFECYCLE_RULES} lifecycle rules."));
            }
            for r in rules {
                let name_ok = !r.name.trim().is_empty() && r.name.chars().count() <= 64;
                if !name_ok {
                    return Err("A lifecycle rule's name has 1 to 64 characters.".into());
                }
                if r.min_age_days == 0 || r.min_age_days > 36_500 {
                    return Err(format!(
                        "Lifecycle rule {:?}: min_age_days must be between 1 and 36500.",
                        r.name
                    ));
                }
                if r.users.len() > 1000 {
                    return Err(format!("Lifecycle rule {:?}: at most 1000 users.", r.name));
                }
            }
        }
        if let Some(types) = &self.allowed_content_types {
            if types.len() > MAX_CONTENT_TYPES {
                return Err(format!(
                    "At most {MAX_CONTENT_TYPES} allowed content types."
                ));
            }
            for t in types {
                let pattern = match t.strip_suffix("/*") {
                    Some(major) => format!("{major}/x"),
                    None => t.clone(),
                };
                if content_type(Some(&pattern)).as_deref() != Some(pattern.as_str()) {
                    return Err(format!(
                        "{t:?} is not a content type (`type/subtype` or `type/*`)."
                    ));
                }
            }
        }
        Ok(())
    }

    /// The stored rows this change writes: setting name and JSON value.
    fn rows(&self) -> Vec<(String, String)> {
        let Ok(Value::Object(map)) = serde_json::to_value(self) else {
            return Vec::new();
        };
        map.into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, v.to_string()))
            .collect()
    }
}

/// Reads and changes the settings in force.
#[derive(Clone)]
pub struct Runtime {
    db: DatabaseConnection,
    defaults: Arc<RuntimeSettings>,
    cache: Arc<TtlCache<(), RuntimeSettings>>,
}

impl Runtime {
    pub fn new(db: DatabaseConnection, settings: &Settings) -> Runtime {
        Runtime {
            db,
            defaults: Arc::new(RuntimeSettings::from_config(settings)),
            cache: Arc::new(TtlCache::new(settings.cache_ttl)),
        }
    }

    /// The settings in force: from memory, or one read of the small `settings` table.
    pub async fn get(&self) -> Result<Arc<RuntimeSettings>, DbErr> {
        if let Some(s) = self.cache.get(&()) {
            return Ok(s);
        }
        let rows = settings::Entity::find().all(&self.db).await?;
        let current = Arc::new(self.defaults.overlaid(rows));
        self.cache.put((), current.clone());
        Ok(current)
    }

    /// Stores a validated change (in the caller's transaction); call
    /// [`Runtime::invalidate`] once it is committed.
    pub async fn store(
        &self,
        db: &impl ConnectionTrait,
        patch: &SettingsPatch,
        by: Uuid,
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        for (key, value) in patch.rows() {
            settings::Entity::insert(settings::ActiveModel {
                key: Set(key),
                value: Set(value),
                updated_at: Set(now),
                updated_by: Set(Some(by)),
            })
            .on_conflict(
                OnConflict::column(settings::Column::Key)
                    .update_columns([
                        settings::Column::Value,
                        settings::Column::UpdatedAt,
                        settings::Column::UpdatedBy,
                    ])
                    .to_owned(),
            )
            .exec(db)
            .await?;
        }
        Ok(())
    }

    /// Drops the cached settings, so the next request reads the stored ones.
    pub fn invalidate(&self) {
        self.cache.invalidate(&());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> RuntimeSettings {
        RuntimeSettings::from_config(&Settings::default())
    }

    fn row(key: &str, value: &str) -> settings::Model {
        settings::Model {
            key: key.into(),
            value: value.into(),
            updated_at: Utc::now(),
            updated_by: None,
        }
    }

    #[test]
    fn stored_rows_override_the_environment() {
        let s = defaults().overlaid(vec![
            row("registration_open", "false"),
            row("presign_ttl_seconds", "60"),
            row("allowed_content_types", r#"["text/*"]"#),
        ]);
        assert!(!s.registration_open);
        assert_eq!(s.presign_ttl(), Duration::from_secs(60));
        assert_eq!(s.allowed_content_types, vec!["text/*".to_owned()]);
        assert_eq!(s.default_quota_bytes, defaults().default_quota_bytes);
    }

    #[test]
    fn unknown_or_unfitting_rows_are_skipped() {
        let d = defaults();
        assert_eq!(d.overlaid(vec![row("no_such_setting", "1")]), d);
        assert_eq!(d.overlaid(vec![row("registration_open", "\"yes\"")]), d);
        assert_eq!(d.overlaid(vec![row("presign_ttl_seconds", "0")]), d);
        assert_eq!(d.overlaid(vec![row("default_role", "\"root\"")]), d);
    }

    #[test]
    fn patches_are_validated() {
        let ok = |p: SettingsPatch| p.normalized().validate().is_ok();
        assert!(ok(SettingsPatch::default()));
        assert!(ok(SettingsPatch {
            allowed_content_types: Some(vec!["Text/*".into(), "application/json".into()]),
            presign_ttl_seconds: Some(604_800),
            ..Default::default()
        }));
        for bad in [
            SettingsPatch {
                default_role: Some("root".into()),
                ..Default::default()
            },
            SettingsPatch {
                default_quota_bytes: Some(-1),
                ..Default::default()
            },
            SettingsPatch {
                presign_ttl_seconds: Some(604_801),
                ..Default::default()
            },
            SettingsPatch {
                max_upload_bytes: Some(0),
                ..Default::default()
            },
            SettingsPatch {
                api_token_max_days: Some(0),
                ..Default::default()
            },
            SettingsPatch {
                api_token_max_days: Some(3651),
                ..Default::default()
            },
            SettingsPatch {
                allowed_content_types: Some(vec!["*/*".into()]),
                ..Default::default()
            },
            SettingsPatch {
                allowed_content_types: Some(vec!["text".into()]),
                ..Default::default()
            },
        ] {
            assert!(!ok(bad.clone()), "{bad:?}");
        }
    }

    #[test]
    fn a_patch_writes_only_its_fields() {
        let p = SettingsPatch {
            registration_open: Some(false),
            max_upload_bytes: Some(10),
            ..Default::default()
        };
        let mut rows = p.rows();
        rows.sort();
        assert_eq!(
            rows,
            vec![
                ("max_upload_bytes".to_owned(), "10".to_owned()),
                ("registration_open".to_owned(), "false".to_owned()),
            ]
        );
    }
}
