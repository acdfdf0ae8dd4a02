//! The rooms of this server, by id. A room exists while it has peers.

use super::{Room, RoomContext};
use crate::error::{Error, Result};
use crate::ids::RoomId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Rooms {
    ctx: Arc<RoomContext>,
    map: Mutex<HashMap<RoomId, Arc<Room>>>,
}

pub use podium_protocol::admin::{BanSummary, RoomSummary};

impl Rooms {
    pub fn new(ctx: Arc<RoomContext>) -> Self {
        Self {
            ctx,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn context(&self) -> &Arc<RoomContext> {
        &self.ctx
    }

    /// The room, created if it does not exist (or closed a moment ago).
    pub fn get_or_create(&self, id: &RoomId) -> Arc<Room> {
        let mut map = self.map.lock();
        match map.get(id) {
            Some(room) if !room.is_closed() => Arc::clone(room),
            _ => {
                let room = Room::new(id.clone(), Arc::clone(&self.ctx));
                map.insert(id.clone(), Arc::clone(&room));
                room
            }
        }
    }

    pub fn get(&self, id: &RoomId) -> Result<Arc<Room>> {
        self.map
            .lock()
            .get(id)
            .filter(|room| !room.is_closed())
            .cloned()
            .ok_or_else(|| Error::not_found("room", id))
    }

    /// Drops the room if nobody is in it or joining it.
    pub fn release(&self, id: &RoomId) {
        let mut map = self.map.lock();
        if map.get(id).is_some_and(|room| room.try_close()) {
            map.remove(id);
            tracing::info!(room = %id, "room closed");
        }
    }

    pub fn all(&self) -> Vec<Arc<Room>> {
        let mut rooms: Vec<_> = self
            .map
            .lock()
            .values()
            .filter(|r| !r.is_closed())
            .cloned()
            .collect();
        rooms.sort_by(|a, b| a.id().cmp(b.id()));
        rooms
    }

    pub fn summaries(&self) -> Vec<RoomSummary> {
        self.all().iter().map(|room| room.summary()).collect()
    }

    /// Lets a kicked user back into a room before their token expires.
    pub fn lift_ban(&self, room: &RoomId, user: &str) -> Result<()> {
        match self.ctx.bans.lift(room, user) {
            true => Ok(()),
            false => Err(Error::not_found("ban", user)),
        }
    }

    pub async fn worker_died(&self, slot: usize) {
        for room in self.all() {
            room.worker_died(slot).await;
            self.release(room.id());
        }
    }

    pub fn shut_down(&self) {
        for room in self.all() {
            room.shut_down();
            self.release(room.id());
        }
    }
}
