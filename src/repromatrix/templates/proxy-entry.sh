#!/bin/sh
# Build the password file from the run's secret files, then run squid in the foreground.
set -e
htpasswd -c -i -m /etc/squid/passwd "$(cat /run/secrets/proxy-user)" < /run/secrets/proxy-password 2>/dev/null
chown proxy /etc/squid/passwd
exec squid -N -f /etc/squid/squid.conf
