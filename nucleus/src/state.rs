//! Application state shared by every handler of a router.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// A tiny type-keyed map. Apps hold a handful of state types, so a linear scan over a `Vec`
/// beats hashing, and lookups take no lock: the map is frozen once the router serves.
#[derive(Clone, Default)]
pub(crate) struct States {
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    id: TypeId,
    name: &'static str,
    value: Arc<dyn Any + Send + Sync>,
}

impl States {
    /// Adds `value`, replacing a value of the same type.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        let entry = Entry {
            id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
            value: Arc::new(value),
        };
        match self.entries.iter_mut().find(|e| e.id == entry.id) {
            Some(slot) => *slot = entry,
            None => self.entries.push(entry),
        }
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let entry = self.entries.iter().find(|e| e.id == TypeId::of::<T>())?;
        Arc::clone(&entry.value).downcast::<T>().ok()
    }

    /// Adds `other`'s values whose types `self` lacks; `self` wins on a clash.
    pub(crate) fn merge(&mut self, other: &States) {
        for entry in &other.entries {
            if !self.entries.iter().any(|e| e.id == entry.id) {
                self.entries.push(entry.clone());
            }
        }
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| e.name))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn insert_replaces_and_merge_keeps_own() {
        let mut a = States::default();
        a.insert(1u32);
        a.insert(2u32);
        assert_eq!(*a.get::<u32>().unwrap(), 2);
        assert!(a.get::<u64>().is_none());

        let mut b = States::default();
        b.insert(9u32);
        b.insert("b");
        a.merge(&b);
        assert_eq!(*a.get::<u32>().unwrap(), 2);
        assert_eq!(*a.get::<&str>().unwrap(), "b");
    }
}
