#!/bin/bash
#
# DevStack plugin for nova-ha: installs nova-ha into the Python environment
# Nova runs from, turns on its scheduler filters and weigher (and, with
# NOVA_HA_SERVICEGROUP=True, its servicegroup driver) in nova.conf, writes
# /etc/nova-ha/nova-ha.conf with the keys of signed monitor events and peer
# probes, creates the history database and runs nova-ha-engine and
# nova-ha-monitor as DevStack services.
#
# Untested here: see devstack/README.md.

# Save trace setting
_XTRACE_NOVA_HA=$(set +o | grep xtrace)
set -o xtrace

NOVA_HA_BIN_DIR=$(get_python_exec_prefix)
NOVA_HA_FILTERS=HAReservedHostFilter,HASegmentFilter

# Every nova.conf DevStack has written on this node: the API's and the
# scheduler's, the cells' conductors' and the compute's.
function _nova_ha_nova_confs {
    local conf
    for conf in $NOVA_CONF $NOVA_CPU_CONF $NOVA_CONF_DIR/nova_cell*.conf; do
        if [[ -f $conf ]]; then
            echo $conf
        fi
    done
}

function install_nova_ha {
    setup_develop $NOVA_HA_DIR
}

# Apply a nova-ha nova.conf fragment (etc/nova-ha/*.conf.sample, the files
# the README quotes and the lab cloud uses) to a conf file: every option it
# sets, a repeated one as multi-valued.  Options named after the file and
# the conf ("section.option") are left out.
function _nova_ha_apply_fragment {
    local fragment=$NOVA_HA_DIR/etc/nova-ha/$1 conf=$2
    shift 2
    local skip=" $* " section option values
    while IFS=$'\t' read -r section option values; do
        if [[ "$skip" == *" $section.$option "* ]]; then
            continue
        fi
        # shellcheck disable=SC2086 # values: one word each
        iniset_multiline $conf $section $option $values
    done < <($NOVA_HA_BIN_DIR/python -m nova_ha.conf.fragments $fragment)
}

# nova.conf: what the README's "Turning it on" sections ask operators to set.
function configure_nova_for_ha {
    local conf filters
    # Scheduler plugins (nova-scheduler reads $NOVA_CONF); the enabled
    # filters keep DevStack's own and gain nova-ha's.
    _nova_ha_apply_fragment nova-scheduler.conf.sample $NOVA_CONF \
        filter_scheduler.enabled_filters
    filters=$(iniget $NOVA_CONF filter_scheduler enabled_filters)
    if [[ ! ",$filters," =~ ",HASegmentFilter," ]]; then
        filters=${filters:+$filters,}$NOVA_HA_FILTERS
        iniset $NOVA_CONF filter_scheduler enabled_filters "$filters"
    fi

    for conf in $(_nova_ha_nova_confs); do
        if [[ "$NOVA_HA_SERVICEGROUP" == "True" ]]; then
            _nova_ha_apply_fragment nova-services.conf.sample $conf \
                ha_servicegroup.backend_url
            _nova_ha_liveness_options $conf
        else
            # Notifications only; Nova keeps its own servicegroup driver.
            _nova_ha_apply_fragment nova-services.conf.sample $conf \
                DEFAULT.servicegroup_driver ha_servicegroup.backend_url
        fi
    done
}

# Where liveness heartbeats live; the same in nova.conf and nova-ha.conf.
function _nova_ha_liveness_options {
    local conf=$1
    if [[ -n "$NOVA_HA_LIVENESS_URL" ]]; then
        iniset $conf ha_servicegroup backend_url "$NOVA_HA_LIVENESS_URL"
    else
        iniset $conf ha_servicegroup embedded_path $NOVA_HA_STATE_DIR/liveness
    fi
}

# A new random key: 32 bytes as hex.
function _nova_ha_new_key {
    $NOVA_HA_BIN_DIR/python -c 'import secrets; print(secrets.token_hex(32))'
}

# The key given in $2, else the one kept in $NOVA_HA_STATE_DIR/$1 (made
# once, readable by the stack user only), so that restacking keeps it.
function _nova_ha_kept_key {
    local file=$NOVA_HA_STATE_DIR/$1 given=$2
    if [[ -n "$given" ]]; then
        echo "$given"
        return
    fi
    if [[ ! -s $file ]]; then
        (umask 077 && _nova_ha_new_key > $file)
    fi
    cat $file
}

# Nova's name of this node's compute host ([DEFAULT] host, else the
# hostname, as nova-compute takes it).
function _nova_ha_compute_host {
    local host
    host=$(iniget ${NOVA_CPU_CONF:-$NOVA_CONF} DEFAULT host)
    echo ${host:-$(hostname)}
}

# Signed monitor events and peer probes: this node's monitor signs its
# events with a key of its own, which the engine holds with the other
# nodes' ($NOVA_HA_HOST_KEYS); the probe key is the segment's, the same on
# every node ($NOVA_HA_PEER_KEY, or the one made here on a single node).
# xtrace is off meanwhile: DevStack's log must never show a key.
function _nova_ha_keys {
    local xtrace host event_key host_keys=""
    xtrace=$(set +o | grep xtrace)
    set +o xtrace
    if is_service_enabled nova-ha-monitor && is_service_enabled n-cpu; then
        host=$(_nova_ha_compute_host)
        event_key=$(_nova_ha_kept_key event-key "$NOVA_HA_EVENT_KEY")
        iniset $NOVA_HA_CONF monitor host $host
        iniset $NOVA_HA_CONF monitor event_key $event_key
        iniset $NOVA_HA_CONF monitor_peers key \
            $(_nova_ha_kept_key peer-key "$NOVA_HA_PEER_KEY")
        host_keys=$host:$event_key
    fi
    if [[ -n "$NOVA_HA_HOST_KEYS" ]]; then
        host_keys=${host_keys:+$host_keys,}$NOVA_HA_HOST_KEYS
    fi
    if is_service_enabled nova-ha-engine; then
        if [[ -n "$host_keys" ]]; then
            iniset $NOVA_HA_CONF event_signing host_keys "$host_keys"
        else
            echo "WARNING: nova-ha-engine has no host's event key: it" \
                "refuses every monitor event until NOVA_HA_HOST_KEYS" \
                "lists the compute hosts' keys" >&2
        fi
    fi
    $xtrace
}

function configure_nova_ha {
    sudo install -d -o $STACK_USER $NOVA_HA_CONF_DIR $NOVA_HA_STATE_DIR
    rm -f $NOVA_HA_CONF
    # Keys: readable by the stack user (the engine) and root (the monitor).
    install -m 600 /dev/null $NOVA_HA_CONF

    iniset $NOVA_HA_CONF DEFAULT debug $ENABLE_DEBUG_LOG_LEVEL
    # Nova's notifications and the monitors' events (the default vhost).
    iniset_rpc_backend nova-ha $NOVA_HA_CONF DEFAULT

    iniset $NOVA_HA_CONF engine cloud $NOVA_HA_CLOUD
    # Where the fragment's nova_ha_forward driver sends Nova's news.
    iniset $NOVA_HA_CONF engine nova_topic nova_ha_nova
    iniset $NOVA_HA_CONF engine coordination_url "$NOVA_HA_COORDINATION_URL"
    if is_service_enabled nova-ha-engine; then
        recreate_database nova_ha
    fi
    iniset $NOVA_HA_CONF history connection "$(database_connection_url nova_ha)"

    iniset $NOVA_HA_CONF fencing_host_defaults driver $NOVA_HA_FENCE_DRIVER

    # DevStack runs nova-compute as a systemd unit of its own.
    iniset $NOVA_HA_CONF monitor_nova_compute systemd_unit devstack@n-cpu.service
    _nova_ha_liveness_options $NOVA_HA_CONF
    _nova_ha_keys
}

# A failover segment with this node's compute hosts, once Nova runs.
function create_nova_ha_segment {
    local host
    if [[ -z "$NOVA_HA_SEGMENT" ]]; then
        return
    fi
    if ! openstack --os-cloud $NOVA_HA_CLOUD aggregate show $NOVA_HA_SEGMENT >/dev/null 2>&1; then
        openstack --os-cloud $NOVA_HA_CLOUD aggregate create \
            --property ha:segment=$NOVA_HA_SEGMENT $NOVA_HA_SEGMENT
    fi
    for host in $(openstack --os-cloud $NOVA_HA_CLOUD compute service list \
            --service nova-compute -f value -c Host); do
        openstack --os-cloud $NOVA_HA_CLOUD aggregate add host \
            $NOVA_HA_SEGMENT $host || true
    done
}

function start_nova_ha {
    if is_service_enabled nova-ha-engine; then
        run_process nova-ha-engine \
            "$NOVA_HA_BIN_DIR/nova-ha-engine --config-file $NOVA_HA_CONF"
    fi
    if is_service_enabled nova-ha-monitor && is_service_enabled n-cpu; then
        # root: it restarts nova-compute through systemctl and reads the
        # processes of other users (see etc/systemd/nova-ha-monitor.service).
        run_process nova-ha-monitor \
            "$NOVA_HA_BIN_DIR/nova-ha-monitor --config-file $NOVA_HA_CONF" \
            "" root
    fi
}

function stop_nova_ha {
    stop_process nova-ha-engine
    stop_process nova-ha-monitor
}

function cleanup_nova_ha {
    sudo rm -rf $NOVA_HA_CONF_DIR $NOVA_HA_STATE_DIR
}

if is_service_enabled nova-ha-engine nova-ha-monitor; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing nova-ha"
        install_nova_ha
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring nova-ha"
        configure_nova_for_ha
        configure_nova_ha
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Starting nova-ha"
        if is_service_enabled nova-ha-engine; then
            create_nova_ha_segment
        fi
        start_nova_ha
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_nova_ha
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_nova_ha
    fi
fi

# Restore xtrace
$_XTRACE_NOVA_HA
