#!/bin/sh
# The CA (key readable by squid only) from the run's secret files, the store on its volume made
# once, then squid in the foreground.
set -e
install -o proxy -g proxy -m 0600 /run/secrets/cache/ca.key /etc/squid/cache-ca.key
install -o proxy -g proxy -m 0644 /run/secrets/cache/ca.pem /etc/squid/cache-ca.pem
install -o proxy -g proxy -m 0644 /run/secrets/cache/upstream.pem /etc/squid/upstream.pem
mkdir -p /var/spool/squid/store /var/lib/squid
chown proxy:proxy /var/spool/squid/store /var/lib/squid
rm -rf /var/lib/squid/ssl_db
/usr/lib/squid/security_file_certgen -c -s /var/lib/squid/ssl_db -M 16MB >/dev/null
chown -R proxy:proxy /var/lib/squid/ssl_db
squid -N -z -f /etc/squid/squid.conf 2>/dev/null
exec squid -N -f /etc/squid/squid.conf
