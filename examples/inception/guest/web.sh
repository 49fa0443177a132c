#!/bin/sh
# Layer 3 of the inception: the container web (guest/Orchfile) serves a page
# that says where it runs and what the guest's kernel gives it.
mkdir -p /tmp/www
mem=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
echo "layer 3: busybox httpd in a container of the guest's orchd; MemTotal $mem kB, $(nproc) cpus" >/tmp/www/index.html
trap 'echo "web: SIGTERM"; kill $httpd; exit 0' TERM
httpd -f -p 8080 -h /tmp/www &
httpd=$!
wait
