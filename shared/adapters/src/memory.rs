//! The embedded store: everything in process memory behind one mutex, so every
//! operation is atomic exactly like the DynamoDB transactions it stands in for.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use authgate_core::model::{
    CounterKey, ExternalAuth, MfaSession, Otp, OutboxItem, Record, Timestamp, UniqueKey,
};
use authgate_core::ports::{
    ConfigStore, CounterStore, ExternalAuthStore, OutboxStore, RecordStore, StoreError, StoreResult,
};

use crate::single_use::{single_use_ports, SingleUseItem};

#[derive(Default)]
struct State {
    records: HashMap<(String, String), Record>,
    /// (collection, field, value) → record id
    unique: HashMap<(String, String, String), String>,
    /// key → (count, window end)
    counters: HashMap<String, (u32, Timestamp)>,
    otps: HashMap<(String, String), Otp>,
    mfas: HashMap<(String, String), MfaSession>,
    /// (collection, provider, provider id) → link
    external: BTreeMap<(String, String, String), ExternalAuth>,
    config: Option<serde_json::Value>,
    /// id → (mail, claimed at, arrival number); `pending_mail` lists them
    /// by `created`, then in the order they arrived.
    outbox: HashMap<String, (OutboxItem, Option<Timestamp>, u64)>,
    arrivals: u64,
}

impl State {
    fn queue(&mut self, item: &OutboxItem) {
        self.arrivals += 1;
        let arrival = self.arrivals;
        self.outbox
            .insert(item.id.clone(), (item.clone(), None, arrival));
    }
}

/// In-memory implementation of every store port.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }
}

fn ukey(collection_id: &str, key: &UniqueKey) -> (String, String, String) {
    (
        collection_id.to_owned(),
        key.field.clone(),
        key.value.clone(),
    )
}

#[async_trait]
impl RecordStore for MemoryStore {
    async fn insert_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        let mut s = self.lock()?;
        let rkey = (record.collection_id.clone(), record.id.clone());
        if s.records.contains_key(&rkey) {
            return Err(StoreError::Conflict { field: "id".into() });
        }
        for key in unique {
            if s.unique.contains_key(&ukey(&record.collection_id, key)) {
                return Err(StoreError::Conflict {
                    field: key.field.clone(),
                });
            }
        }
        for key in unique {
            s.unique
                .insert(ukey(&record.collection_id, key), record.id.clone());
        }
        s.records.insert(rkey, record.clone());
        Ok(())
    }

    async fn get_record(&self, collection_id: &str, id: &str) -> StoreResult<Option<Record>> {
        let s = self.lock()?;
        Ok(s.records
            .get(&(collection_id.to_owned(), id.to_owned()))
            .cloned())
    }

    async fn find_record_by_unique(
        &self,
        collection_id: &str,
        key: &UniqueKey,
    ) -> StoreResult<Option<Record>> {
        let s = self.lock()?;
        let Some(id) = s.unique.get(&ukey(collection_id, key)) else {
            return Ok(None);
        };
        Ok(s.records
            .get(&(collection_id.to_owned(), id.clone()))
            .cloned())
    }

    async fn update_record(
        &self,
        old: &Record,
        new: &Record,
        old_unique: &[UniqueKey],
        new_unique: &[UniqueKey],
    ) -> StoreResult<()> {
        let mut s = self.lock()?;
        let rkey = (old.collection_id.clone(), old.id.clone());
        match s.records.get(&rkey) {
            Some(current) if current.version == old.version => {}
            _ => return Err(StoreError::Stale),
        }
        let coll = &old.collection_id;
        for key in new_unique.iter().filter(|k| !old_unique.contains(k)) {
            if let Some(owner) = s.unique.get(&ukey(coll, key)) {
                if owner != &old.id {
                    return Err(StoreError::Conflict {
                        field: key.field.clone(),
                    });
                }
            }
        }
        for key in old_unique.iter().filter(|k| !new_unique.contains(k)) {
            let k = ukey(coll, key);
            if s.unique.get(&k) == Some(&old.id) {
                s.unique.remove(&k);
            }
        }
        for key in new_unique {
            s.unique.insert(ukey(coll, key), old.id.clone());
        }
        s.records.insert(rkey, new.clone());
        Ok(())
    }

    async fn delete_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        let mut s = self.lock()?;
        let rkey = (record.collection_id.clone(), record.id.clone());
        match s.records.get(&rkey) {
            Some(current) if current.version == record.version => {}
            _ => return Err(StoreError::Stale),
        }
        for key in unique {
            let k = ukey(&record.collection_id, key);
            if s.unique.get(&k) == Some(&record.id) {
                s.unique.remove(&k);
            }
        }
        s.records.remove(&rkey);
        s.external
            .retain(|_, l| !(l.collection_id == record.collection_id && l.record_id == record.id));
        Ok(())
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn hit(
        &self,
        key: &CounterKey<'_>,
        limit: u32,
        window_secs: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut s = self.lock()?;
        let entry = s
            .counters
            .entry(key.storage_key())
            .or_insert((0, Timestamp(i64::MIN)));
        if entry.1 <= now {
            *entry = (1, now.plus_secs(window_secs));
            return Ok(limit >= 1);
        }
        if entry.0 < limit {
            entry.0 += 1;
            return Ok(true);
        }
        Ok(false)
    }

    async fn clear(&self, key: &CounterKey<'_>) -> StoreResult<()> {
        self.lock()?.counters.remove(&key.storage_key());
        Ok(())
    }

    async fn give_back(&self, key: &CounterKey<'_>, now: Timestamp) -> StoreResult<()> {
        let mut s = self.lock()?;
        if let Some(entry) = s.counters.get_mut(&key.storage_key()) {
            if entry.1 > now && entry.0 > 0 {
                entry.0 -= 1;
            }
        }
        Ok(())
    }
}

/// Which map of [`State`] holds a kind of single-use item.
trait Kept: SingleUseItem + Clone + Sized {
    fn items(state: &mut State) -> &mut HashMap<(String, String), Self>;
}

impl Kept for Otp {
    fn items(state: &mut State) -> &mut HashMap<(String, String), Self> {
        &mut state.otps
    }
}

impl Kept for MfaSession {
    fn items(state: &mut State) -> &mut HashMap<(String, String), Self> {
        &mut state.mfas
    }
}

impl MemoryStore {
    async fn insert_single_use<T: Kept>(&self, item: &T) -> StoreResult<()> {
        let slot = item.slot();
        let key = (slot.collection_id.to_owned(), slot.id.to_owned());
        T::items(&mut *self.lock()?).insert(key, item.clone());
        Ok(())
    }

    async fn get_single_use<T: Kept>(
        &self,
        collection_id: &str,
        id: &str,
    ) -> StoreResult<Option<T>> {
        let key = (collection_id.to_owned(), id.to_owned());
        Ok(T::items(&mut *self.lock()?).get(&key).cloned())
    }

    /// Check and removal happen under one lock, so of concurrent consumers
    /// exactly one gets `true`, as with DynamoDB's conditional delete.
    async fn consume_single_use<T: Kept>(
        &self,
        collection_id: &str,
        id: &str,
        guard: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut state = self.lock()?;
        let items = T::items(&mut state);
        let key = (collection_id.to_owned(), id.to_owned());
        let ok = items.get(&key).is_some_and(|item| {
            let slot = item.slot();
            slot.guard == guard && slot.expires_at > now
        });
        if ok {
            items.remove(&key);
        }
        Ok(ok)
    }
}

single_use_ports!(MemoryStore);

#[async_trait]
impl ExternalAuthStore for MemoryStore {
    async fn find_external_auth(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> StoreResult<Option<ExternalAuth>> {
        let s = self.lock()?;
        Ok(s.external
            .get(&(
                collection_id.to_owned(),
                provider.to_owned(),
                provider_id.to_owned(),
            ))
            .cloned())
    }

    async fn insert_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        let mut s = self.lock()?;
        let key = (
            link.collection_id.clone(),
            link.provider.clone(),
            link.provider_id.clone(),
        );
        if s.external.contains_key(&key) {
            return Err(StoreError::Conflict {
                field: "provider".into(),
            });
        }
        s.external.insert(key, link.clone());
        Ok(())
    }

    async fn list_external_auths(
        &self,
        collection_id: &str,
        record_id: &str,
    ) -> StoreResult<Vec<ExternalAuth>> {
        let s = self.lock()?;
        Ok(s.external
            .values()
            .filter(|l| l.collection_id == collection_id && l.record_id == record_id)
            .cloned()
            .collect())
    }

    async fn delete_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        let mut s = self.lock()?;
        s.external.remove(&(
            link.collection_id.clone(),
            link.provider.clone(),
            link.provider_id.clone(),
        ));
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn enqueue_mail(&self, item: &OutboxItem) -> StoreResult<()> {
        self.lock()?.queue(item);
        Ok(())
    }

    async fn insert_otp_with_mail(&self, otp: &Otp, item: &OutboxItem) -> StoreResult<()> {
        let mut s = self.lock()?;
        s.otps
            .insert((otp.collection_id.clone(), otp.id.clone()), otp.clone());
        s.queue(item);
        Ok(())
    }

    async fn get_mail(&self, id: &str) -> StoreResult<Option<OutboxItem>> {
        Ok(self.lock()?.outbox.get(id).map(|(item, _, _)| item.clone()))
    }

    async fn claim_mail(&self, id: &str, now: Timestamp, lease_secs: i64) -> StoreResult<bool> {
        let mut s = self.lock()?;
        let Some((_, claimed, _)) = s.outbox.get_mut(id) else {
            return Ok(false);
        };
        if claimed.is_some_and(|at| at.plus_secs(lease_secs) > now) {
            return Ok(false);
        }
        *claimed = Some(now);
        Ok(true)
    }

    async fn delete_mail(&self, id: &str) -> StoreResult<()> {
        self.lock()?.outbox.remove(id);
        Ok(())
    }

    async fn release_mail(&self, id: &str) -> StoreResult<()> {
        if let Some((_, claimed, _)) = self.lock()?.outbox.get_mut(id) {
            *claimed = None;
        }
        Ok(())
    }

    async fn pending_mail(&self, limit: usize) -> StoreResult<Vec<String>> {
        let s = self.lock()?;
        let mut items: Vec<(&OutboxItem, u64)> = s
            .outbox
            .values()
            .map(|(item, _, arrival)| (item, *arrival))
            .collect();
        items.sort_by_key(|(i, arrival)| (i.created, *arrival));
        Ok(items
            .into_iter()
            .take(limit)
            .map(|(i, _)| i.id.clone())
            .collect())
    }
}

#[async_trait]
impl ConfigStore for MemoryStore {
    async fn load_config(&self) -> StoreResult<Option<serde_json::Value>> {
        Ok(self.lock()?.config.clone())
    }

    async fn save_config(&self, config: &serde_json::Value) -> StoreResult<()> {
        self.lock()?.config = Some(config.clone());
        Ok(())
    }
}
