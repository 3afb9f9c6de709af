using System.Runtime.CompilerServices;

internal static partial class Interop
{
    /// <summary>
    /// The C# copy of bpf/include/fanout_shared.h, in C's names, and the names the daemon looks up in the built BPF
    /// objects. Everything shared with the BPF programs lives here and only here: the contract tests
    /// (tests/UdpFanout.Tests/Interop/) compile the header and open the objects and prove every constant, enum
    /// member, struct layout and name on both sides, so a new one is a line here and a line there.
    /// </summary>
    internal static partial class Fanout
    {
        public const int FANOUT_MAX_DOWNSTREAMS = 256;
        public const int FANOUT_MAX_SLOTS = 2 * FANOUT_MAX_DOWNSTREAMS;
        public const uint FANOUT_MAGLEV_TABLE_SIZE = 65537;
        public const byte FANOUT_BALANCE_ROUND_ROBIN = 0;
        public const byte FANOUT_BALANCE_SOURCE_HASH = 1;
        public const byte FANOUT_HASH_SOURCE_IP = 0;
        public const byte FANOUT_HASH_SOURCE_IP_PORT = 1;
        public const int FANOUT_MAX_QUEUES = 64;
        public const int FANOUT_XDP_CHAIN_SLOTS = 16;
        public const uint FANOUT_SET_ALL_UNHEALTHY = 1;
        public const uint FANOUT_SET_OTHER_FAMILY = 2;
        public const uint FANOUT_FAMILY_IPV4 = 0;
        public const uint FANOUT_FAMILY_IPV6 = 1;
        public const int FANOUT_FAMILY_COUNT = 2;
        public const byte FANOUT_LISTEN_IPV4 = 1;
        public const byte FANOUT_LISTEN_IPV6 = 2;

        /// <summary>tc_fanout.bpf.o: its file, program and maps (every map it has, so none is added unseen).</summary>
        public const string TC_OBJECT = "tc_fanout.bpf.o";
        public const string TC_PROGRAM = "tc_fanout";
        public const string TC_MAP_DOWNSTREAM_SETS = "downstream_sets";
        public const string TC_MAP_RR_POSITION = "rr_position";
        public const string TC_MAP_STATS = "stats";
        public const string TC_MAP_SLOT_STATS = "slot_stats";
        public const string TC_MAP_ROUTE_EPOCHS = "route_epochs";
        public const string TC_MAP_ROUTE_CACHE = "route_cache";

        /// <summary>
        /// tc_fanout_xdp.bpf.o: a tc_ebpf listener's XDP layer. Its set, position and per-downstream maps are the tc
        /// program's (shared before load), and so are its route cache and the cache's epochs, its chain map its interface's.
        /// </summary>
        public const string TC_XDP_OBJECT = "tc_fanout_xdp.bpf.o";
        public const string TC_XDP_PROGRAM = "tc_fanout_xdp";
        public const string TC_XDP_MAP_DOWNSTREAM_SETS = TC_MAP_DOWNSTREAM_SETS;
        public const string TC_XDP_MAP_RR_POSITION = TC_MAP_RR_POSITION;
        public const string TC_XDP_MAP_SLOT_STATS = TC_MAP_SLOT_STATS;
        public const string TC_XDP_MAP_ROUTE_EPOCHS = TC_MAP_ROUTE_EPOCHS;
        public const string TC_XDP_MAP_ROUTE_CACHE = TC_MAP_ROUTE_CACHE;
        /// <summary>The tc program's verdict counters: in the XDP layer's object because the maps header declares them, unused there.</summary>
        public const string TC_XDP_MAP_TC_STATS = TC_MAP_STATS;
        public const string TC_XDP_MAP_EGRESS = "xdp_egress";
        public const string TC_XDP_MAP_STATS = "tc_xdp_stats";
        public const string TC_XDP_MAP_CHAIN = XDP_CHAIN_MAP_CHAIN;

        /// <summary>
        /// tc_fanout_xmit.bpf.o: the XDP layer's tracepoint programs, which count what devices dropped of the frames
        /// the layer sent on (redirected through its devmap, or XDP_TX) into the layer's own counters; both maps are
        /// the layer's (shared before load).
        /// </summary>
        public const string TC_XMIT_OBJECT = "tc_fanout_xmit.bpf.o";
        public const string TC_XMIT_PROGRAM = "tc_fanout_xmit";
        public const string TC_XMIT_PROGRAM_BULK_TX = "tc_fanout_bulk_tx";
        public const string TC_XMIT_PROGRAM_TX_EXCEPTION = "tc_fanout_tx_exception";
        public const string TC_XMIT_MAP_EGRESS = TC_XDP_MAP_EGRESS;
        public const string TC_XMIT_MAP_STATS = TC_XDP_MAP_STATS;

        /// <summary>xdp_fanout.bpf.o: its file, program and maps.</summary>
        public const string XDP_OBJECT = "xdp_fanout.bpf.o";
        public const string XDP_PROGRAM = "xdp_fanout";
        public const string XDP_MAP_XSKS = "xsks";
        public const string XDP_MAP_STATS = "xdp_stats";
        public const string XDP_MAP_CHAIN = XDP_CHAIN_MAP_CHAIN;

        /// <summary>xdp_chain.bpf.o: the root of an interface's XDP chain and the chain's prog array.</summary>
        public const string XDP_CHAIN_OBJECT = "xdp_chain.bpf.o";
        public const string XDP_CHAIN_PROGRAM = "xdp_chain_root";
        public const string XDP_CHAIN_MAP_CHAIN = "xdp_chain";

        /// <summary><c>struct fanout_listener</c>: what the program matches (network byte order) and how it balances.</summary>
        internal unsafe struct fanout_listener
        {
            public uint addr;
            public ushort port;
            public byte balance;
            public byte hash_key;
            public fixed byte addr6[16];
            public byte families;
            public fixed byte pad[3];
            public uint xdp_chain_slot;
        }

        /// <summary><c>struct fanout_downstream</c>: address (IPv4 in its first 4 bytes) and port in network byte order, and its counter slot.</summary>
        internal unsafe struct fanout_downstream
        {
            public fixed byte addr[16];
            public ushort port;
            public ushort slot;
        }

        /// <summary><c>struct fanout_downstream_set</c>: one family's set, the inner map (one per family) being swapped on every change.</summary>
        internal struct fanout_downstream_set
        {
            public uint count;
            public uint flags;
            public uint order_len;
            public Downstreams downstreams;
            public Table table;

            [InlineArray(FANOUT_MAX_DOWNSTREAMS)]
            internal struct Downstreams
            {
                private fanout_downstream _element;
            }

            [InlineArray((int)FANOUT_MAGLEV_TABLE_SIZE)]
            internal struct Table
            {
                private byte _element;
            }
        }

        /// <summary><c>struct fanout_xmit_watch</c>: the interface whose redirects the tracepoint program counts, by index and network namespace cookie.</summary>
        internal struct fanout_xmit_watch
        {
            public ulong netns_cookie;
            public uint ifindex;
            public uint pad;
        }

        /// <summary><c>struct fanout_route</c>: a route cache entry, what bpf_fib_lookup answered for one downstream (the header says each field).</summary>
        internal unsafe struct fanout_route
        {
            public ulong epoch;
            public fixed byte daddr[16];
            public fixed byte next_hop[16];
            public uint ingress_ifindex;
            public uint ifindex;
            public ushort mtu;
            public byte nh_family;
            public byte resolved;
            public fixed byte dmac[6];
            public fixed byte smac[6];
        }

        /// <summary><c>struct fanout_counter</c>: one per CPU in the per-CPU stats maps.</summary>
        internal struct fanout_counter
        {
            public ulong packets;
            public ulong bytes;
        }

        /// <summary><c>enum fanout_tc_stat</c>: the tc program's per-verdict counters (the header says what each counts).</summary>
        internal enum fanout_tc_stat : uint
        {
            FANOUT_TC_FORWARDED = 0,
            FANOUT_TC_NO_DOWNSTREAM = 1,
            FANOUT_TC_NO_ROUTE = 2,
            FANOUT_TC_REDIRECT_FAILED = 3,
            FANOUT_TC_PASS_FRAGMENT = 4,
            FANOUT_TC_TTL_EXPIRED = 5,
            FANOUT_TC_PASS_FRAG_NEEDED = 6,
            FANOUT_TC_PASS_FORWARDING_DISABLED = 7,
            FANOUT_TC_NO_HEALTHY_DOWNSTREAM = 8,
            FANOUT_TC_PASS_BAD_HEADER = 9,
            FANOUT_TC_FORWARDED_UNRESOLVED = 10,
            FANOUT_TC_PASS_EXTENSION_HEADER = 11,
            FANOUT_TC_PASS_OTHER_FAMILY = 12,
            FANOUT_TC_STAT_COUNT = 13,
        }

        /// <summary><c>enum fanout_tc_xdp_stat</c>: the tc_ebpf XDP layer's per-verdict counters.</summary>
        internal enum fanout_tc_xdp_stat : uint
        {
            FANOUT_TC_XDP_FORWARDED = 0,
            FANOUT_TC_XDP_PASS_FRAGMENT = 1,
            FANOUT_TC_XDP_PASS_BAD_HEADER = 2,
            FANOUT_TC_XDP_PASS_TTL = 3,
            FANOUT_TC_XDP_PASS_NO_DOWNSTREAM = 4,
            FANOUT_TC_XDP_PASS_VLAN = 5,
            FANOUT_TC_XDP_PASS_NO_NEIGH = 6,
            FANOUT_TC_XDP_PASS_FIB = 7,
            FANOUT_TC_XDP_PASS_EGRESS = 8,
            FANOUT_TC_XDP_REDIRECT_FAILED = 9,
            FANOUT_TC_XDP_PASS_UDP_CHECKSUM = 10,
            FANOUT_TC_XDP_PASS_EXTENSION_HEADER = 11,
            FANOUT_TC_XDP_TRANSMIT_FAILED = 12,
            FANOUT_TC_XDP_STAT_COUNT = 13,
        }

        /// <summary><c>enum fanout_xdp_stat</c>: the XDP program's per-verdict counters.</summary>
        internal enum fanout_xdp_stat : uint
        {
            FANOUT_XDP_REDIRECTED = 0,
            FANOUT_XDP_NO_SOCKET = 1,
            FANOUT_XDP_PASS_FRAGMENT = 2,
            FANOUT_XDP_PASS_EXTENSION_HEADER = 3,
            FANOUT_XDP_STAT_COUNT = 4,
        }
    }
}
