# netguard.sh — a private bridge no guest can sniff or redirect.
# Sourced by tools/ompi-virt; uses common.sh.
#
# Why: Open MPI's out-of-band channel carries the job's environment, and
# with it the job's secret (OMPI_MCA_orte_precondition_transports, see
# common/ov_job_id.h), in clear between mpirun on the host and the orted in
# each guest.  On a plain Linux bridge a guest that is root in its own
# network namespace can take other guests' or the host's addresses (ARP
# replies, gratuitous ARP, a copied MAC the bridge then learns on its port)
# and read or redirect that traffic; after an fdb entry ages out, unknown
# unicast is flooded to every port, promiscuous guests included.
#
# What, per bridge BR and per guest port P with its MAC M and IPv4 address A:
# - an nftables table 'bridge BR' (one per bridge, so that sets of guests on
#   other bridges never touch each other's rules), replaced atomically:
#   * frames entering from P must have ether source M; ARP must have sender
#     MAC M and sender IP A; IPv4 must have source A; anything else (IPv6,
#     other ethertypes, spoofed frames) is dropped and counted
#     ('nft list table bridge BR' shows the counters);
#   * frames leaving through P (from another port or from the host) must be
#     addressed to M or be broadcast (ARP requests); everything else,
#     multicast included, is dropped: a promiscuous guest sees only frames
#     meant for it;
# - on the bridge: P does not learn (a copied MAC is never learnt; frames
#   with a wrong source are dropped before learning anyway), does not get
#   unknown unicast or multicast flooded to it, and M has a static fdb entry
#   on P, so frames for M always go to P and nowhere else.
# What it does not defend: a tenant that is root on the host, or who makes
# the bridge's MACs or rules itself; networks this tool did not make.
#
# Functions:
#   netguard_need                 dies with an install hint when nft is missing
#   netguard_mac IPV4             the MAC given to the holder of IPV4 (locally
#                                 administered, 02:00 + the address in hex)
#   netguard_load BR SPEC...      (re)load table 'bridge BR'; SPEC is
#                                 "PORT MAC IPV4" per guest port; dies when nft
#                                 fails or a table of that name is not ours
#   netguard_port BR PORT MAC     make PORT (already enslaved to BR, still
#                                 down) a guarded port: no learning, no
#                                 flooding, static fdb entry for MAC
#   netguard_unload BR            delete table 'bridge BR' if it is one
#                                 netguard_load made (its comment says so);
#                                 never fails
#   netguard_no_ipv6 [NETNS] DEV  disable IPv6 on DEV (the guard drops it anyway;
#                                 this keeps guests from trying)

NETGUARD_COMMENT="ompi-virt: anti-spoofing and no leaks on bridge"

netguard_need() {
    need_tool nft nftables
    need_tool bridge iproute2
}

netguard_mac() {
    local IFS=. a b c d
    read -r a b c d <<<"$1"
    printf '02:00:%02x:%02x:%02x:%02x\n' "$a" "$b" "$c" "$d"
}

# netguard_rules BR SPEC...: the nft script of netguard_load on stdout
netguard_rules() {
    local br=$1 s port mac ip; shift
    # declaring then deleting makes the load an atomic replace, also on the first load
    echo "table bridge $br"
    echo "delete table bridge $br"
    echo "table bridge $br {"
    echo "  comment \"$NETGUARD_COMMENT $br\""
    echo "  chain from_guests { type filter hook prerouting priority -200; policy accept;"
    for s in "$@"; do
        read -r port mac ip <<<"$s"
        echo "    iifname \"$port\" jump from_$port"
    done
    echo "  }"
    for s in "$@"; do
        read -r port mac ip <<<"$s"
        echo "  chain from_$port {"
        echo "    ether saddr != $mac counter drop"
        echo "    ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether $mac arp saddr ip $ip accept"
        echo "    ether type ip ip saddr $ip accept"
        echo "    counter drop"
        echo "  }"
    done
    # frames the bridge forwards (forward) or the host sends (output) to a guest
    local hook
    for hook in forward output; do
        echo "  chain to_guests_$hook { type filter hook $hook priority -200; policy accept;"
        for s in "$@"; do
            read -r port mac ip <<<"$s"
            echo "    oifname \"$port\" ether daddr != { $mac, ff:ff:ff:ff:ff:ff } counter drop"
        done
        echo "  }"
    done
    echo "}"
}

# netguard_ours BR: table 'bridge BR' exists and netguard_load made it
# (not a pipe into grep -q: under pipefail nft's SIGPIPE would fail the test)
netguard_ours() {
    local table
    table=$(nft list table bridge "$1" 2>/dev/null) || return 1
    [[ $table == *"comment \"$NETGUARD_COMMENT $1\""* ]]
}

netguard_load() {
    local br=$1 err; shift
    netguard_need
    if nft list table bridge "$br" >/dev/null 2>&1 && ! netguard_ours "$br"; then
        die "an nftables table 'bridge $br' exists and was not made by $PROG; remove it or choose another bridge name"
    fi
    if ! err=$(netguard_rules "$br" "$@" | nft -f - 2>&1); then
        die "cannot load the nftables rules of bridge $br (nft -f): $err"
    fi
    vinfo "nftables table 'bridge $br' guards $# port(s)"
}

netguard_port() {
    local br=$1 port=$2 mac=$3
    bridge link set dev "$port" learning off flood off mcast_flood off ||
        die "cannot turn off learning and flooding on $port"
    bridge fdb replace "$mac" dev "$port" master static ||
        die "cannot add the static fdb entry $mac on $port"
}

netguard_unload() {
    command -v nft >/dev/null 2>&1 || return 0
    netguard_ours "$1" || return 0
    nft delete table bridge "$1" >/dev/null 2>&1 || true
}

netguard_no_ipv6() {
    local pre=()
    if [ $# = 2 ]; then pre=(ip netns exec "$1"); shift; fi
    "${pre[@]}" sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" >/dev/null 2>&1 || true
}
