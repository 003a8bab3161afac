//! What kvws keeps in Redis, and the Lua scripts that change it.
//!
//! Under the prefix `P` (`--redis-prefix`, default `kvws`):
//!
//! ```text
//! P:epoch        the store's epoch: a random name given when the data starts
//!                (again); a node that sees another one reloads
//! P:rev          the store-wide revision, one INCR per change
//! P:data         hash: field = <id length>:<id><key>,
//!                value = <rev>;<expires at>;<owner>;<JSON value>
//! P:stream       every change in revision order (entry id <rev>-0), trimmed
//!                to about the history's length
//! P:ttl          sorted set of the fields that expire, by deadline
//! P:nodes        set of the nodes that hold ephemeral keys
//! P:lease:<node> present while node <node> is alive (it refreshes it)
//! P:eph:<node>   set of the fields node <node>'s connections own
//! ```
//!
//! A change is one script run, so it is atomic: the epoch checked (and a new
//! one started if the data is gone), `if_rev` checked, the revision taken,
//! the key written or deleted with its deadline and owner, and the change
//! appended to the stream. Concurrent compare-and-sets from different nodes
//! are decided by Redis running scripts one at a time: one wins.

/// The write script. KEYS: epoch, rev, data, stream, ttl. ARGV: op (`set`,
/// `del`, `exp`, `reap`), field, value, if_rev (`""`: none), expires_at
/// (`""`: none; for `exp` the deadline the key must still have), owner
/// (`""`: none; for `reap` the owner the key must still have), a new
/// epoch's name, a new epoch's first revision, the stream's length, now
/// (ms), the prefix, the proposal (`<node>:<seq>`, kept in the stream entry
/// so that the proposing node can answer its writer as soon as it applies
/// the change, whichever of the reply and the stream it hears first).
/// Returns `{outcome, rev, epoch}` with outcome `done`,
/// `nothing` or `conflict` (rev: the key's current revision).
pub const WRITE: &str = r#"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[7]
  redis.call('SET', KEYS[1], epoch)
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if current < tonumber(ARGV[8]) then redis.call('SET', KEYS[2], ARGV[8]) end
end
local op, field = ARGV[1], ARGV[2]
local old = redis.call('HGET', KEYS[3], field)
local old_rev, old_exp, old_owner = 0, '', ''
if old then
  local a = string.find(old, ';', 1, true)
  local b = string.find(old, ';', a + 1, true)
  local c = string.find(old, ';', b + 1, true)
  old_rev = tonumber(string.sub(old, 1, a - 1))
  old_exp = string.sub(old, a + 1, b - 1)
  old_owner = string.sub(old, b + 1, c - 1)
end
if (op == 'set' or op == 'del') and ARGV[4] ~= '' and tonumber(ARGV[4]) ~= old_rev then
  return {'conflict', old_rev, epoch}
end
if op ~= 'set' and not old then return {'nothing', 0, epoch} end
if op == 'exp' and (old_exp ~= ARGV[5] or tonumber(old_exp) > tonumber(ARGV[10])) then
  return {'nothing', 0, epoch}
end
if op == 'reap' and old_owner ~= ARGV[6] then return {'nothing', 0, epoch} end
local rev = redis.call('INCR', KEYS[2])
-- Lua 5.1 writes numbers with 14 digits (%.14g): a revision is formatted
-- as an integer, or a 16-digit one would become 1.7950000000001e+15.
local srev = string.format('%d', rev)
local id = srev .. '-0'
if old_exp ~= '' then redis.call('ZREM', KEYS[5], field) end
if old_owner ~= '' then
  local node = string.sub(old_owner, 1, string.find(old_owner, ':', 1, true) - 1)
  redis.call('SREM', ARGV[11] .. ':eph:' .. node, field)
end
if op == 'set' then
  local exp, owner = ARGV[5], ARGV[6]
  redis.call('HSET', KEYS[3], field, srev .. ';' .. exp .. ';' .. owner .. ';' .. ARGV[3])
  if exp ~= '' then redis.call('ZADD', KEYS[5], exp, field) end
  if owner ~= '' then
    local node = string.sub(owner, 1, string.find(owner, ':', 1, true) - 1)
    redis.call('SADD', ARGV[11] .. ':eph:' .. node, field)
  end
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], id,
    'e', epoch, 'o', 's', 'f', field, 'x', exp, 'w', owner, 'p', ARGV[12], 'v', ARGV[3])
else
  redis.call('HDEL', KEYS[3], field)
  local reason = ''
  if op == 'exp' then reason = 'expired' elseif op == 'reap' then reason = 'disconnected' end
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], id,
    'e', epoch, 'o', 'd', 'f', field, 'r', reason, 'p', ARGV[12])
end
return {'done', rev, epoch}
"#;

/// Where a node starts from. KEYS: epoch, rev. ARGV: a new epoch's name
/// and first revision (used if there is no epoch: the data is new or
/// lost), the newest revision the node has seen and its epoch (`""` for a
/// new node). Returns `{epoch, rev}`: every change up to `rev` is in the
/// data, and the stream has every later one.
///
/// If the epoch is the one the node knows but the revision is below what
/// the node has seen, Redis has lost changes that were acknowledged (a
/// restart from an older file, an asynchronous replica promoted): its
/// revisions would be given again to other changes. A new epoch starts,
/// above what the node has seen, so that every node reloads and every
/// client resyncs instead of being told two different things under one
/// revision.
pub const START: &str = r#"
local epoch = redis.call('GET', KEYS[1])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if epoch and epoch == ARGV[4] and current < tonumber(ARGV[3]) then
  epoch = false
end
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  if current < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[2]) end
end
return {epoch, redis.call('GET', KEYS[2]) or '0'}
"#;

/// Deletes the ephemeral keys of nodes whose lease has lapsed, at most
/// `ARGV[2]` of them per run. KEYS: epoch, rev, data, stream, ttl, nodes.
/// ARGV: the prefix, the batch size, the stream's length, this node's name.
/// Returns the number of keys deleted (run again while it is the batch).
pub const REAP_DEAD: &str = r#"
local epoch = redis.call('GET', KEYS[1])
if not epoch then return 0 end
local deleted = 0
for _, node in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  if node ~= ARGV[4] and redis.call('EXISTS', ARGV[1] .. ':lease:' .. node) == 0 then
    local set = ARGV[1] .. ':eph:' .. node
    local fields = redis.call('SPOP', set, tonumber(ARGV[2]) - deleted)
    for _, field in ipairs(fields) do
      local old = redis.call('HGET', KEYS[3], field)
      if old then
        local a = string.find(old, ';', 1, true)
        local b = string.find(old, ';', a + 1, true)
        local c = string.find(old, ';', b + 1, true)
        local owner = string.sub(old, b + 1, c - 1)
        if string.sub(owner, 1, #node + 1) == node .. ':' then
          local exp = string.sub(old, a + 1, b - 1)
          local rev = string.format('%d', redis.call('INCR', KEYS[2]))
          redis.call('HDEL', KEYS[3], field)
          if exp ~= '' then redis.call('ZREM', KEYS[5], field) end
          redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], rev .. '-0',
            'e', epoch, 'o', 'd', 'f', field, 'r', 'disconnected')
          deleted = deleted + 1
        end
      end
    end
    if redis.call('SCARD', set) == 0 then redis.call('SREM', KEYS[6], node) end
    if deleted >= tonumber(ARGV[2]) then return deleted end
  end
end
return deleted
"#;

/// The field a key is stored under: `<id length>:<id><key>`, so that any
/// id and key (colons and NULs included) map to one field and back.
pub fn field(id: &str, key: &str) -> String {
    let mut f = String::with_capacity(id.len() + key.len() + 8);
    f.push_str(itoa::Buffer::new().format(id.len()));
    f.push(':');
    f.push_str(id);
    f.push_str(key);
    f
}

/// The id and key of a field.
pub fn split_field(field: &str) -> Option<(&str, &str)> {
    let (len, rest) = field.split_once(':')?;
    let len: usize = len.parse().ok()?;
    if !rest.is_char_boundary(len) {
        return None;
    }
    Some(rest.split_at(len))
}

/// A stored value: `<rev>;<expires at>;<owner>;<JSON value>`.
pub struct Stored<'a> {
    /// The revision that wrote it.
    pub rev: u64,
    /// When it expires (ms since the epoch).
    pub expires_at: Option<u64>,
    /// `<node>:<connection>` of an ephemeral key.
    pub owner: Option<&'a str>,
    /// The JSON text.
    pub value: &'a str,
}

impl<'a> Stored<'a> {
    /// Parses a value of `P:data`.
    pub fn parse(text: &'a str) -> Option<Stored<'a>> {
        let mut parts = text.splitn(4, ';');
        let rev = parts.next()?.parse().ok()?;
        let exp = parts.next()?;
        let owner = parts.next()?;
        let value = parts.next()?;
        Some(Stored {
            rev,
            expires_at: if exp.is_empty() {
                None
            } else {
                Some(exp.parse().ok()?)
            },
            owner: (!owner.is_empty()).then_some(owner),
            value,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_any_id_and_key_apart() {
        for (id, key) in [
            ("a", "b"),
            ("a:b", "c"),
            ("", ""),
            ("é\0", ":1:2"),
            ("12", "3"),
        ] {
            assert_eq!(split_field(&field(id, key)), Some((id, key)));
        }
        assert_ne!(field("ab", "c"), field("a", "bc"));
        assert_eq!(split_field("5:abc"), None);
    }

    #[test]
    fn stored_values_parse() {
        let s = Stored::parse(r#"17;1795000000000;n1:5;{"a":";"}"#).unwrap();
        assert_eq!(
            (s.rev, s.expires_at, s.owner, s.value),
            (17, Some(1795000000000), Some("n1:5"), r#"{"a":";"}"#)
        );
        let s = Stored::parse("3;;;null").unwrap();
        assert_eq!(
            (s.rev, s.expires_at, s.owner, s.value),
            (3, None, None, "null")
        );
        assert!(Stored::parse("x;;;1").is_none());
    }
}
