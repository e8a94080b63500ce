#!/bin/sh
# Installs what the end-to-end tests need: SIPp (Debian package sip-tester),
# SIPVicious (sipvicious), fail2ban (fail2ban-regex checks deploy/fail2ban) and
# rtpengine (rtpengine-daemon, run in userspace mode by the media tests) and
# kamailio (its package ships kamailio-basic-kemi-lua.lua, which the tests run
# unmodified on luasbc; the Kamailio daemon itself is not started). Idempotent:
# a no-op when everything is already present;
# apt-get update runs only when something must be installed.
set -eu

missing=""
command -v sipp >/dev/null 2>&1 || missing="$missing sip-tester"
if ! command -v svmap >/dev/null 2>&1 && ! command -v sipvicious_svmap >/dev/null 2>&1; then
	missing="$missing sipvicious"
fi

command -v fail2ban-regex >/dev/null 2>&1 || missing="$missing fail2ban"
command -v rtpengine >/dev/null 2>&1 || missing="$missing rtpengine-daemon"
kemi_example=/usr/share/doc/kamailio/examples/kemi/kamailio-basic-kemi-lua.lua
[ -e "$kemi_example" ] || [ -e "$kemi_example.gz" ] || missing="$missing kamailio"

if [ -z "$missing" ]; then
	echo "deps: sipp, sipvicious, fail2ban, rtpengine and kamailio already installed"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: need to install$missing, but apt-get is not available; install them by hand" >&2
	exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "deps: need root (or sudo) to install$missing" >&2
		exit 1
	fi
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing

command -v sipp >/dev/null 2>&1 || { echo "deps: sipp still missing" >&2; exit 1; }
command -v svmap >/dev/null 2>&1 || command -v sipvicious_svmap >/dev/null 2>&1 ||
	{ echo "deps: svmap still missing" >&2; exit 1; }
command -v fail2ban-regex >/dev/null 2>&1 || { echo "deps: fail2ban-regex still missing" >&2; exit 1; }
command -v rtpengine >/dev/null 2>&1 || { echo "deps: rtpengine still missing" >&2; exit 1; }
echo "deps: done"
