//! [`CommandId`]: every command and subcommand keel knows, as a type.
//!
//! The table (`table.rs`) gives each its row; counters (INFO
//! commandstats) are indexed by it; a handler that serves several
//! commands (INCR and DECRBY, EXPIRE and PEXPIREAT) tells them apart by
//! it, never by the name's text.

/// One command or subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum CommandId {
    /// `CLIENT|GETNAME`.
    ClientGetname,
    /// `CLIENT|HELP`.
    ClientHelp,
    /// `CLIENT|ID`.
    ClientId,
    /// `CLIENT|INFO`.
    ClientInfo,
    /// `CLIENT|LIST`.
    ClientList,
    /// `CLIENT|SETINFO`.
    ClientSetinfo,
    /// `CLIENT|SETNAME`.
    ClientSetname,
    /// `COMMAND|COUNT`.
    CommandCount,
    /// `COMMAND|DOCS`.
    CommandDocs,
    /// `COMMAND|HELP`.
    CommandHelp,
    /// `COMMAND|INFO`.
    CommandInfo,
    /// `COMMAND|LIST`.
    CommandList,
    /// `CONFIG|GET`.
    ConfigGet,
    /// `CONFIG|HELP`.
    ConfigHelp,
    /// `CONFIG|RESETSTAT`.
    ConfigResetstat,
    /// `CONFIG|SET`.
    ConfigSet,
    /// `OBJECT|ENCODING`.
    ObjectEncoding,
    /// `OBJECT|FREQ`.
    ObjectFreq,
    /// `OBJECT|HELP`.
    ObjectHelp,
    /// `OBJECT|IDLETIME`.
    ObjectIdletime,
    /// `OBJECT|REFCOUNT`.
    ObjectRefcount,
    /// `MEMORY|HELP`.
    MemoryHelp,
    /// `MEMORY|USAGE`.
    MemoryUsage,
    /// `FUNCTION|FLUSH`.
    FunctionFlush,
    /// `FUNCTION|HELP`.
    FunctionHelp,
    /// `FUNCTION|LIST`.
    FunctionList,
    /// `AUTH`.
    Auth,
    /// `CLIENT`.
    Client,
    /// `ECHO`.
    Echo,
    /// `HELLO`.
    Hello,
    /// `PING`.
    Ping,
    /// `QUIT`.
    Quit,
    /// `RESET`.
    Reset,
    /// `SELECT`.
    Select,
    /// `BGSAVE`.
    Bgsave,
    /// `COMMAND`.
    Command,
    /// `CONFIG`.
    Config,
    /// `FUNCTION`.
    Function,
    /// `DBSIZE`.
    Dbsize,
    /// `DEBUG`.
    Debug,
    /// `FLUSHALL`.
    Flushall,
    /// `FLUSHDB`.
    Flushdb,
    /// `INFO`.
    Info,
    /// `MEMORY`.
    Memory,
    /// `LASTSAVE`.
    Lastsave,
    /// `SAVE`.
    Save,
    /// `SHUTDOWN`.
    Shutdown,
    /// `SWAPDB`.
    Swapdb,
    /// `TIME`.
    Time,
    /// `DISCARD`.
    Discard,
    /// `EXEC`.
    Exec,
    /// `MULTI`.
    Multi,
    /// `UNWATCH`.
    Unwatch,
    /// `WATCH`.
    Watch,
    /// `APPEND`.
    Append,
    /// `DECR`.
    Decr,
    /// `DECRBY`.
    Decrby,
    /// `GET`.
    Get,
    /// `GETDEL`.
    Getdel,
    /// `GETEX`.
    Getex,
    /// `GETRANGE`.
    Getrange,
    /// `GETSET`.
    Getset,
    /// `BITCOUNT`.
    Bitcount,
    /// `GETBIT`.
    Getbit,
    /// `INCR`.
    Incr,
    /// `INCRBY`.
    Incrby,
    /// `INCRBYFLOAT`.
    Incrbyfloat,
    /// `LCS`.
    Lcs,
    /// `MGET`.
    Mget,
    /// `MSET`.
    Mset,
    /// `MSETNX`.
    Msetnx,
    /// `PSETEX`.
    Psetex,
    /// `SET`.
    Set,
    /// `SETBIT`.
    Setbit,
    /// `SETEX`.
    Setex,
    /// `SETNX`.
    Setnx,
    /// `SETRANGE`.
    Setrange,
    /// `STRLEN`.
    Strlen,
    /// `SUBSTR`.
    Substr,
    /// `COPY`.
    Copy,
    /// `DEL`.
    Del,
    /// `EXISTS`.
    Exists,
    /// `EXPIRE`.
    Expire,
    /// `EXPIREAT`.
    Expireat,
    /// `EXPIRETIME`.
    Expiretime,
    /// `KEYS`.
    Keys,
    /// `MOVE`.
    Move,
    /// `OBJECT`.
    Object,
    /// `PERSIST`.
    Persist,
    /// `PEXPIRE`.
    Pexpire,
    /// `PEXPIREAT`.
    Pexpireat,
    /// `PEXPIRETIME`.
    Pexpiretime,
    /// `PTTL`.
    Pttl,
    /// `RANDOMKEY`.
    Randomkey,
    /// `RENAME`.
    Rename,
    /// `RENAMENX`.
    Renamenx,
    /// `SCAN`.
    Scan,
    /// `TOUCH`.
    Touch,
    /// `TTL`.
    Ttl,
    /// `TYPE`.
    Type,
    /// `UNLINK`.
    Unlink,
    /// `WAIT`.
    Wait,
    /// `ACL`.
    Acl,
    /// `CLIENT|CACHING`.
    ClientCaching,
    /// `CLIENT|GETREDIR`.
    ClientGetredir,
    /// `CLIENT|KILL`.
    ClientKill,
    /// `CLIENT|NO-EVICT`.
    ClientNoEvict,
    /// `CLIENT|NO-TOUCH`.
    ClientNoTouch,
    /// `CLIENT|PAUSE`.
    ClientPause,
    /// `CLIENT|REPLY`.
    ClientReply,
    /// `CLIENT|TRACKING`.
    ClientTracking,
    /// `CLIENT|TRACKINGINFO`.
    ClientTrackinginfo,
    /// `CLIENT|UNBLOCK`.
    ClientUnblock,
    /// `CLIENT|UNPAUSE`.
    ClientUnpause,
    /// `SLOWLOG`.
    Slowlog,
    /// `SLOWLOG|GET`.
    SlowlogGet,
    /// `SLOWLOG|HELP`.
    SlowlogHelp,
    /// `SLOWLOG|LEN`.
    SlowlogLen,
    /// `SLOWLOG|RESET`.
    SlowlogReset,
    /// `LATENCY`.
    Latency,
    /// `LATENCY|DOCTOR`.
    LatencyDoctor,
    /// `LATENCY|GRAPH`.
    LatencyGraph,
    /// `LATENCY|HELP`.
    LatencyHelp,
    /// `LATENCY|HISTORY`.
    LatencyHistory,
    /// `LATENCY|LATEST`.
    LatencyLatest,
    /// `LATENCY|RESET`.
    LatencyReset,
    /// `MONITOR`.
    Monitor,
    /// `HDEL`.
    Hdel,
    /// `HEXISTS`.
    Hexists,
    /// `HGET`.
    Hget,
    /// `HGETALL`.
    Hgetall,
    /// `HINCRBY`.
    Hincrby,
    /// `HINCRBYFLOAT`.
    Hincrbyfloat,
    /// `HKEYS`.
    Hkeys,
    /// `HLEN`.
    Hlen,
    /// `HMGET`.
    Hmget,
    /// `HMSET`.
    Hmset,
    /// `HRANDFIELD`.
    Hrandfield,
    /// `HSCAN`.
    Hscan,
    /// `HSET`.
    Hset,
    /// `HSETNX`.
    Hsetnx,
    /// `HSTRLEN`.
    Hstrlen,
    /// `HVALS`.
    Hvals,
    /// `SADD`.
    Sadd,
    /// `SCARD`.
    Scard,
    /// `SDIFF`.
    Sdiff,
    /// `SDIFFSTORE`.
    Sdiffstore,
    /// `SINTER`.
    Sinter,
    /// `SINTERCARD`.
    Sintercard,
    /// `SINTERSTORE`.
    Sinterstore,
    /// `SISMEMBER`.
    Sismember,
    /// `SMEMBERS`.
    Smembers,
    /// `SMISMEMBER`.
    Smismember,
    /// `SMOVE`.
    Smove,
    /// `SPOP`.
    Spop,
    /// `SRANDMEMBER`.
    Srandmember,
    /// `SREM`.
    Srem,
    /// `SSCAN`.
    Sscan,
    /// `SUNION`.
    Sunion,
    /// `SUNIONSTORE`.
    Sunionstore,
    /// `LINDEX`.
    Lindex,
    /// `LINSERT`.
    Linsert,
    /// `LLEN`.
    Llen,
    /// `LMOVE`.
    Lmove,
    /// `LMPOP`.
    Lmpop,
    /// `LPOP`.
    Lpop,
    /// `LPOS`.
    Lpos,
    /// `LPUSH`.
    Lpush,
    /// `LPUSHX`.
    Lpushx,
    /// `LRANGE`.
    Lrange,
    /// `LREM`.
    Lrem,
    /// `LSET`.
    Lset,
    /// `LTRIM`.
    Ltrim,
    /// `RPOP`.
    Rpop,
    /// `RPOPLPUSH`.
    Rpoplpush,
    /// `RPUSH`.
    Rpush,
    /// `RPUSHX`.
    Rpushx,
    /// `ZADD`.
    Zadd,
    /// `ZCARD`.
    Zcard,
    /// `ZCOUNT`.
    Zcount,
    /// `ZDIFF`.
    Zdiff,
    /// `ZDIFFSTORE`.
    Zdiffstore,
    /// `ZINCRBY`.
    Zincrby,
    /// `ZINTER`.
    Zinter,
    /// `ZINTERCARD`.
    Zintercard,
    /// `ZINTERSTORE`.
    Zinterstore,
    /// `ZLEXCOUNT`.
    Zlexcount,
    /// `ZMSCORE`.
    Zmscore,
    /// `ZPOPMAX`.
    Zpopmax,
    /// `ZPOPMIN`.
    Zpopmin,
    /// `ZRANDMEMBER`.
    Zrandmember,
    /// `ZRANGE`.
    Zrange,
    /// `ZRANGEBYLEX`.
    Zrangebylex,
    /// `ZRANGEBYSCORE`.
    Zrangebyscore,
    /// `ZRANGESTORE`.
    Zrangestore,
    /// `ZRANK`.
    Zrank,
    /// `ZREM`.
    Zrem,
    /// `ZREMRANGEBYLEX`.
    Zremrangebylex,
    /// `ZREMRANGEBYRANK`.
    Zremrangebyrank,
    /// `ZREMRANGEBYSCORE`.
    Zremrangebyscore,
    /// `ZREVRANGE`.
    Zrevrange,
    /// `ZREVRANGEBYLEX`.
    Zrevrangebylex,
    /// `ZREVRANGEBYSCORE`.
    Zrevrangebyscore,
    /// `ZREVRANK`.
    Zrevrank,
    /// `ZSCAN`.
    Zscan,
    /// `ZSCORE`.
    Zscore,
    /// `ZUNION`.
    Zunion,
    /// `ZUNIONSTORE`.
    Zunionstore,
    /// `ZMPOP`.
    Zmpop,
    /// `BLPOP`.
    Blpop,
    /// `BRPOP`.
    Brpop,
    /// `BLMOVE`.
    Blmove,
    /// `BRPOPLPUSH`.
    Brpoplpush,
    /// `BLMPOP`.
    Blmpop,
    /// `BZPOPMAX`.
    Bzpopmax,
    /// `BZPOPMIN`.
    Bzpopmin,
    /// `BZMPOP`.
    Bzmpop,
    /// `PUBLISH`.
    Publish,
    /// `PSUBSCRIBE`.
    Psubscribe,
    /// `PUBSUB`.
    Pubsub,
    /// `PUBSUB|CHANNELS`.
    PubsubChannels,
    /// `PUBSUB|HELP`.
    PubsubHelp,
    /// `PUBSUB|NUMPAT`.
    PubsubNumpat,
    /// `PUBSUB|NUMSUB`.
    PubsubNumsub,
    /// `PUBSUB|SHARDCHANNELS`.
    PubsubShardchannels,
    /// `PUBSUB|SHARDNUMSUB`.
    PubsubShardnumsub,
    /// `PUNSUBSCRIBE`.
    Punsubscribe,
    /// `SPUBLISH`.
    Spublish,
    /// `SSUBSCRIBE`.
    Ssubscribe,
    /// `SUBSCRIBE`.
    Subscribe,
    /// `SUNSUBSCRIBE`.
    Sunsubscribe,
    /// `UNSUBSCRIBE`.
    Unsubscribe,
    /// `EVAL`.
    Eval,
    /// `EVAL_RO`.
    EvalRo,
    /// `EVALSHA`.
    Evalsha,
    /// `EVALSHA_RO`.
    EvalshaRo,
    /// `SCRIPT`.
    Script,
    /// `SCRIPT|DEBUG`.
    ScriptDebug,
    /// `SCRIPT|EXISTS`.
    ScriptExists,
    /// `SCRIPT|FLUSH`.
    ScriptFlush,
    /// `SCRIPT|HELP`.
    ScriptHelp,
    /// `SCRIPT|KILL`.
    ScriptKill,
    /// `SCRIPT|LOAD`.
    ScriptLoad,
    /// `FUNCTION|DELETE`.
    FunctionDelete,
    /// `FUNCTION|KILL`.
    FunctionKill,
    /// `FUNCTION|LOAD`.
    FunctionLoad,
    /// `FCALL`.
    Fcall,
    /// `FCALL_RO`.
    FcallRo,
    /// `CLUSTER`.
    Cluster,
    /// `SORT`.
    Sort,
    /// `SORT_RO`.
    SortRo,
    /// `DUMP`.
    Dump,
    /// `RESTORE`.
    Restore,
    /// `MIGRATE`.
    Migrate,
    /// `XACK`.
    Xack,
    /// `XADD`.
    Xadd,
    /// `XAUTOCLAIM`.
    Xautoclaim,
    /// `XCLAIM`.
    Xclaim,
    /// `XDEL`.
    Xdel,
    /// `XGROUP`.
    Xgroup,
    /// `XGROUP|CREATE`.
    XgroupCreate,
    /// `XGROUP|CREATECONSUMER`.
    XgroupCreateconsumer,
    /// `XGROUP|DELCONSUMER`.
    XgroupDelconsumer,
    /// `XGROUP|DESTROY`.
    XgroupDestroy,
    /// `XGROUP|HELP`.
    XgroupHelp,
    /// `XGROUP|SETID`.
    XgroupSetid,
    /// `XINFO`.
    Xinfo,
    /// `XINFO|CONSUMERS`.
    XinfoConsumers,
    /// `XINFO|GROUPS`.
    XinfoGroups,
    /// `XINFO|HELP`.
    XinfoHelp,
    /// `XINFO|STREAM`.
    XinfoStream,
    /// `XLEN`.
    Xlen,
    /// `XPENDING`.
    Xpending,
    /// `XRANGE`.
    Xrange,
    /// `XREAD`.
    Xread,
    /// `XREADGROUP`.
    Xreadgroup,
    /// `XREVRANGE`.
    Xrevrange,
    /// `XSETID`.
    Xsetid,
    /// `XTRIM`.
    Xtrim,
    /// `BGREWRITEAOF`.
    Bgrewriteaof,
    /// `GEOADD`.
    Geoadd,
    /// `GEODIST`.
    Geodist,
    /// `GEOHASH`.
    Geohash,
    /// `GEOPOS`.
    Geopos,
    /// `GEORADIUS`.
    Georadius,
    /// `GEORADIUS_RO`.
    GeoradiusRo,
    /// `GEORADIUSBYMEMBER`.
    Georadiusbymember,
    /// `GEORADIUSBYMEMBER_RO`.
    GeoradiusbymemberRo,
    /// `GEOSEARCH`.
    Geosearch,
    /// `GEOSEARCHSTORE`.
    Geosearchstore,
    /// `BITOP`.
    Bitop,
    /// `BITPOS`.
    Bitpos,
    /// `BITFIELD`.
    Bitfield,
    /// `BITFIELD_RO`.
    BitfieldRo,
    /// `ROLE`.
    Role,
    /// `READONLY`.
    Readonly,
    /// `READWRITE`.
    Readwrite,
    /// `LOLWUT`.
    Lolwut,
    /// `COMMAND|GETKEYS`.
    CommandGetkeys,
    /// `COMMAND|GETKEYSANDFLAGS`.
    CommandGetkeysandflags,
    /// `PFADD`.
    Pfadd,
    /// `PFCOUNT`.
    Pfcount,
    /// `PFDEBUG`.
    Pfdebug,
    /// `PFMERGE`.
    Pfmerge,
    /// `PFSELFTEST`.
    Pfselftest,
}

impl CommandId {
    /// How many there are.
    pub const COUNT: usize = 305;

    /// Every id, in declaration order.
    pub const ALL: [CommandId; CommandId::COUNT] = [
        CommandId::ClientGetname,
        CommandId::ClientHelp,
        CommandId::ClientId,
        CommandId::ClientInfo,
        CommandId::ClientList,
        CommandId::ClientSetinfo,
        CommandId::ClientSetname,
        CommandId::CommandCount,
        CommandId::CommandDocs,
        CommandId::CommandHelp,
        CommandId::CommandInfo,
        CommandId::CommandList,
        CommandId::ConfigGet,
        CommandId::ConfigHelp,
        CommandId::ConfigResetstat,
        CommandId::ConfigSet,
        CommandId::ObjectEncoding,
        CommandId::ObjectFreq,
        CommandId::ObjectHelp,
        CommandId::ObjectIdletime,
        CommandId::ObjectRefcount,
        CommandId::MemoryHelp,
        CommandId::MemoryUsage,
        CommandId::FunctionFlush,
        CommandId::FunctionHelp,
        CommandId::FunctionList,
        CommandId::Auth,
        CommandId::Client,
        CommandId::Echo,
        CommandId::Hello,
        CommandId::Ping,
        CommandId::Quit,
        CommandId::Reset,
        CommandId::Select,
        CommandId::Bgsave,
        CommandId::Command,
        CommandId::Config,
        CommandId::Function,
        CommandId::Dbsize,
        CommandId::Debug,
        CommandId::Flushall,
        CommandId::Flushdb,
        CommandId::Info,
        CommandId::Memory,
        CommandId::Lastsave,
        CommandId::Save,
        CommandId::Shutdown,
        CommandId::Swapdb,
        CommandId::Time,
        CommandId::Discard,
        CommandId::Exec,
        CommandId::Multi,
        CommandId::Unwatch,
        CommandId::Watch,
        CommandId::Append,
        CommandId::Decr,
        CommandId::Decrby,
        CommandId::Get,
        CommandId::Getdel,
        CommandId::Getex,
        CommandId::Getrange,
        CommandId::Getset,
        CommandId::Bitcount,
        CommandId::Getbit,
        CommandId::Incr,
        CommandId::Incrby,
        CommandId::Incrbyfloat,
        CommandId::Lcs,
        CommandId::Mget,
        CommandId::Mset,
        CommandId::Msetnx,
        CommandId::Psetex,
        CommandId::Set,
        CommandId::Setbit,
        CommandId::Setex,
        CommandId::Setnx,
        CommandId::Setrange,
        CommandId::Strlen,
        CommandId::Substr,
        CommandId::Copy,
        CommandId::Del,
        CommandId::Exists,
        CommandId::Expire,
        CommandId::Expireat,
        CommandId::Expiretime,
        CommandId::Keys,
        CommandId::Move,
        CommandId::Object,
        CommandId::Persist,
        CommandId::Pexpire,
        CommandId::Pexpireat,
        CommandId::Pexpiretime,
        CommandId::Pttl,
        CommandId::Randomkey,
        CommandId::Rename,
        CommandId::Renamenx,
        CommandId::Scan,
        CommandId::Touch,
        CommandId::Ttl,
        CommandId::Type,
        CommandId::Unlink,
        CommandId::Wait,
        CommandId::Acl,
        CommandId::ClientCaching,
        CommandId::ClientGetredir,
        CommandId::ClientKill,
        CommandId::ClientNoEvict,
        CommandId::ClientNoTouch,
        CommandId::ClientPause,
        CommandId::ClientReply,
        CommandId::ClientTracking,
        CommandId::ClientTrackinginfo,
        CommandId::ClientUnblock,
        CommandId::ClientUnpause,
        CommandId::Slowlog,
        CommandId::SlowlogGet,
        CommandId::SlowlogHelp,
        CommandId::SlowlogLen,
        CommandId::SlowlogReset,
        CommandId::Latency,
        CommandId::LatencyDoctor,
        CommandId::LatencyGraph,
        CommandId::LatencyHelp,
        CommandId::LatencyHistory,
        CommandId::LatencyLatest,
        CommandId::LatencyReset,
        CommandId::Monitor,
        CommandId::Hdel,
        CommandId::Hexists,
        CommandId::Hget,
        CommandId::Hgetall,
        CommandId::Hincrby,
        CommandId::Hincrbyfloat,
        CommandId::Hkeys,
        CommandId::Hlen,
        CommandId::Hmget,
        CommandId::Hmset,
        CommandId::Hrandfield,
        CommandId::Hscan,
        CommandId::Hset,
        CommandId::Hsetnx,
        CommandId::Hstrlen,
        CommandId::Hvals,
        CommandId::Sadd,
        CommandId::Scard,
        CommandId::Sdiff,
        CommandId::Sdiffstore,
        CommandId::Sinter,
        CommandId::Sintercard,
        CommandId::Sinterstore,
        CommandId::Sismember,
        CommandId::Smembers,
        CommandId::Smismember,
        CommandId::Smove,
        CommandId::Spop,
        CommandId::Srandmember,
        CommandId::Srem,
        CommandId::Sscan,
        CommandId::Sunion,
        CommandId::Sunionstore,
        CommandId::Lindex,
        CommandId::Linsert,
        CommandId::Llen,
        CommandId::Lmove,
        CommandId::Lmpop,
        CommandId::Lpop,
        CommandId::Lpos,
        CommandId::Lpush,
        CommandId::Lpushx,
        CommandId::Lrange,
        CommandId::Lrem,
        CommandId::Lset,
        CommandId::Ltrim,
        CommandId::Rpop,
        CommandId::Rpoplpush,
        CommandId::Rpush,
        CommandId::Rpushx,
        CommandId::Zadd,
        CommandId::Zcard,
        CommandId::Zcount,
        CommandId::Zdiff,
        CommandId::Zdiffstore,
        CommandId::Zincrby,
        CommandId::Zinter,
        CommandId::Zintercard,
        CommandId::Zinterstore,
        CommandId::Zlexcount,
        CommandId::Zmscore,
        CommandId::Zpopmax,
        CommandId::Zpopmin,
        CommandId::Zrandmember,
        CommandId::Zrange,
        CommandId::Zrangebylex,
        CommandId::Zrangebyscore,
        CommandId::Zrangestore,
        CommandId::Zrank,
        CommandId::Zrem,
        CommandId::Zremrangebylex,
        CommandId::Zremrangebyrank,
        CommandId::Zremrangebyscore,
        CommandId::Zrevrange,
        CommandId::Zrevrangebylex,
        CommandId::Zrevrangebyscore,
        CommandId::Zrevrank,
        CommandId::Zscan,
        CommandId::Zscore,
        CommandId::Zunion,
        CommandId::Zunionstore,
        CommandId::Zmpop,
        CommandId::Blpop,
        CommandId::Brpop,
        CommandId::Blmove,
        CommandId::Brpoplpush,
        CommandId::Blmpop,
        CommandId::Bzpopmax,
        CommandId::Bzpopmin,
        CommandId::Bzmpop,
        CommandId::Publish,
        CommandId::Psubscribe,
        CommandId::Pubsub,
        CommandId::PubsubChannels,
        CommandId::PubsubHelp,
        CommandId::PubsubNumpat,
        CommandId::PubsubNumsub,
        CommandId::PubsubShardchannels,
        CommandId::PubsubShardnumsub,
        CommandId::Punsubscribe,
        CommandId::Spublish,
        CommandId::Ssubscribe,
        CommandId::Subscribe,
        CommandId::Sunsubscribe,
        CommandId::Unsubscribe,
        CommandId::Eval,
        CommandId::EvalRo,
        CommandId::Evalsha,
        CommandId::EvalshaRo,
        CommandId::Script,
        CommandId::ScriptDebug,
        CommandId::ScriptExists,
        CommandId::ScriptFlush,
        CommandId::ScriptHelp,
        CommandId::ScriptKill,
        CommandId::ScriptLoad,
        CommandId::FunctionDelete,
        CommandId::FunctionKill,
        CommandId::FunctionLoad,
        CommandId::Fcall,
        CommandId::FcallRo,
        CommandId::Cluster,
        CommandId::Sort,
        CommandId::SortRo,
        CommandId::Dump,
        CommandId::Restore,
        CommandId::Migrate,
        CommandId::Xack,
        CommandId::Xadd,
        CommandId::Xautoclaim,
        CommandId::Xclaim,
        CommandId::Xdel,
        CommandId::Xgroup,
        CommandId::XgroupCreate,
        CommandId::XgroupCreateconsumer,
        CommandId::XgroupDelconsumer,
        CommandId::XgroupDestroy,
        CommandId::XgroupHelp,
        CommandId::XgroupSetid,
        CommandId::Xinfo,
        CommandId::XinfoConsumers,
        CommandId::XinfoGroups,
        CommandId::XinfoHelp,
        CommandId::XinfoStream,
        CommandId::Xlen,
        CommandId::Xpending,
        CommandId::Xrange,
        CommandId::Xread,
        CommandId::Xreadgroup,
        CommandId::Xrevrange,
        CommandId::Xsetid,
        CommandId::Xtrim,
        CommandId::Bgrewriteaof,
        CommandId::Geoadd,
        CommandId::Geodist,
        CommandId::Geohash,
        CommandId::Geopos,
        CommandId::Georadius,
        CommandId::GeoradiusRo,
        CommandId::Georadiusbymember,
        CommandId::GeoradiusbymemberRo,
        CommandId::Geosearch,
        CommandId::Geosearchstore,
        CommandId::Bitop,
        CommandId::Bitpos,
        CommandId::Bitfield,
        CommandId::BitfieldRo,
        CommandId::Role,
        CommandId::Readonly,
        CommandId::Readwrite,
        CommandId::Lolwut,
        CommandId::CommandGetkeys,
        CommandId::CommandGetkeysandflags,
        CommandId::Pfadd,
        CommandId::Pfcount,
        CommandId::Pfdebug,
        CommandId::Pfmerge,
        CommandId::Pfselftest,
    ];

    /// The full name as Redis reports it: `get`, `client|setname`.
    pub const fn full_name(self) -> &'static str {
        FULL_NAMES[self as usize]
    }

    /// The id's position in [`CommandId::ALL`] (for counters indexed by
    /// command).
    pub const fn index(self) -> usize {
        self as usize
    }
}

const FULL_NAMES: [&str; CommandId::COUNT] = [
    "client|getname",
    "client|help",
    "client|id",
    "client|info",
    "client|list",
    "client|setinfo",
    "client|setname",
    "command|count",
    "command|docs",
    "command|help",
    "command|info",
    "command|list",
    "config|get",
    "config|help",
    "config|resetstat",
    "config|set",
    "object|encoding",
    "object|freq",
    "object|help",
    "object|idletime",
    "object|refcount",
    "memory|help",
    "memory|usage",
    "function|flush",
    "function|help",
    "function|list",
    "auth",
    "client",
    "echo",
    "hello",
    "ping",
    "quit",
    "reset",
    "select",
    "bgsave",
    "command",
    "config",
    "function",
    "dbsize",
    "debug",
    "flushall",
    "flushdb",
    "info",
    "memory",
    "lastsave",
    "save",
    "shutdown",
    "swapdb",
    "time",
    "discard",
    "exec",
    "multi",
    "unwatch",
    "watch",
    "append",
    "decr",
    "decrby",
    "get",
    "getdel",
    "getex",
    "getrange",
    "getset",
    "bitcount",
    "getbit",
    "incr",
    "incrby",
    "incrbyfloat",
    "lcs",
    "mget",
    "mset",
    "msetnx",
    "psetex",
    "set",
    "setbit",
    "setex",
    "setnx",
    "setrange",
    "strlen",
    "substr",
    "copy",
    "del",
    "exists",
    "expire",
    "expireat",
    "expiretime",
    "keys",
    "move",
    "object",
    "persist",
    "pexpire",
    "pexpireat",
    "pexpiretime",
    "pttl",
    "randomkey",
    "rename",
    "renamenx",
    "scan",
    "touch",
    "ttl",
    "type",
    "unlink",
    "wait",
    "acl",
    "client|caching",
    "client|getredir",
    "client|kill",
    "client|no-evict",
    "client|no-touch",
    "client|pause",
    "client|reply",
    "client|tracking",
    "client|trackinginfo",
    "client|unblock",
    "client|unpause",
    "slowlog",
    "slowlog|get",
    "slowlog|help",
    "slowlog|len",
    "slowlog|reset",
    "latency",
    "latency|doctor",
    "latency|graph",
    "latency|help",
    "latency|history",
    "latency|latest",
    "latency|reset",
    "monitor",
    "hdel",
    "hexists",
    "hget",
    "hgetall",
    "hincrby",
    "hincrbyfloat",
    "hkeys",
    "hlen",
    "hmget",
    "hmset",
    "hrandfield",
    "hscan",
    "hset",
    "hsetnx",
    "hstrlen",
    "hvals",
    "sadd",
    "scard",
    "sdiff",
    "sdiffstore",
    "sinter",
    "sintercard",
    "sinterstore",
    "sismember",
    "smembers",
    "smismember",
    "smove",
    "spop",
    "srandmember",
    "srem",
    "sscan",
    "sunion",
    "sunionstore",
    "lindex",
    "linsert",
    "llen",
    "lmove",
    "lmpop",
    "lpop",
    "lpos",
    "lpush",
    "lpushx",
    "lrange",
    "lrem",
    "lset",
    "ltrim",
    "rpop",
    "rpoplpush",
    "rpush",
    "rpushx",
    "zadd",
    "zcard",
    "zcount",
    "zdiff",
    "zdiffstore",
    "zincrby",
    "zinter",
    "zintercard",
    "zinterstore",
    "zlexcount",
    "zmscore",
    "zpopmax",
    "zpopmin",
    "zrandmember",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrangestore",
    "zrank",
    "zrem",
    "zremrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscan",
    "zscore",
    "zunion",
    "zunionstore",
    "zmpop",
    "blpop",
    "brpop",
    "blmove",
    "brpoplpush",
    "blmpop",
    "bzpopmax",
    "bzpopmin",
    "bzmpop",
    "publish",
    "psubscribe",
    "pubsub",
    "pubsub|channels",
    "pubsub|help",
    "pubsub|numpat",
    "pubsub|numsub",
    "pubsub|shardchannels",
    "pubsub|shardnumsub",
    "punsubscribe",
    "spublish",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "unsubscribe",
    "eval",
    "eval_ro",
    "evalsha",
    "evalsha_ro",
    "script",
    "script|debug",
    "script|exists",
    "script|flush",
    "script|help",
    "script|kill",
    "script|load",
    "function|delete",
    "function|kill",
    "function|load",
    "fcall",
    "fcall_ro",
    "cluster",
    "sort",
    "sort_ro",
    "dump",
    "restore",
    "migrate",
    "xack",
    "xadd",
    "xautoclaim",
    "xclaim",
    "xdel",
    "xgroup",
    "xgroup|create",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "xgroup|destroy",
    "xgroup|help",
    "xgroup|setid",
    "xinfo",
    "xinfo|consumers",
    "xinfo|groups",
    "xinfo|help",
    "xinfo|stream",
    "xlen",
    "xpending",
    "xrange",
    "xread",
    "xreadgroup",
    "xrevrange",
    "xsetid",
    "xtrim",
    "bgrewriteaof",
    "geoadd",
    "geodist",
    "geohash",
    "geopos",
    "georadius",
    "georadius_ro",
    "georadiusbymember",
    "georadiusbymember_ro",
    "geosearch",
    "geosearchstore",
    "bitop",
    "bitpos",
    "bitfield",
    "bitfield_ro",
    "role",
    "readonly",
    "readwrite",
    "lolwut",
    "command|getkeys",
    "command|getkeysandflags",
    "pfadd",
    "pfcount",
    "pfdebug",
    "pfmerge",
    "pfselftest",
];
