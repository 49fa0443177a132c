/* The guest's network setup (vm_net.h). */
#include "init/vm_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void set_in(struct sockaddr *sa, const char *ip)
{
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    inet_pton(AF_INET, ip, &in->sin_addr);
}

static int if_up(int s, const char *name)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        return -1;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(s, SIOCSIFFLAGS, &ifr);
}

int orch_vm_net_up(char *why, size_t why_len)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(why, why_len, "socket: %s", strerror(errno));
        return -1;
    }
    const char *step = "lo";
    int rc = -1;
    if (if_up(s, "lo") != 0)
        goto out;
    /* virtio_net probes while its module loads; the name may lag a little */
    step = ORCH_VM_NET_IF;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, ORCH_VM_NET_IF);
    for (int i = 0; i < 40 && ioctl(s, SIOCGIFFLAGS, &ifr) != 0; i++) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    set_in(&ifr.ifr_addr, ORCH_VM_NET_ADDR);
    step = ORCH_VM_NET_IF " address";
    if (ioctl(s, SIOCSIFADDR, &ifr) != 0)
        goto out;
    set_in(&ifr.ifr_netmask, ORCH_VM_NET_MASK);
    step = ORCH_VM_NET_IF " netmask";
    if (ioctl(s, SIOCSIFNETMASK, &ifr) != 0)
        goto out;
    step = ORCH_VM_NET_IF " up";
    if (if_up(s, ORCH_VM_NET_IF) != 0)
        goto out;
    struct rtentry rt = {0};
    set_in(&rt.rt_dst, "0.0.0.0");
    set_in(&rt.rt_genmask, "0.0.0.0");
    set_in(&rt.rt_gateway, ORCH_VM_NET_GW);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = (char *)ORCH_VM_NET_IF;
    step = "default route";
    if (ioctl(s, SIOCADDRT, &rt) != 0 && errno != EEXIST)
        goto out;
    rc = 0;
out:
    if (rc < 0)
        snprintf(why, why_len, "%s: %s", step, strerror(errno));
    close(s);
    if (rc == 0) {
        /* the guest's /etc is its own copy in RAM: replacing the image's
         * resolv.conf (or the symlink there) touches nothing on the host */
        unlink("/etc/resolv.conf");
        int fd = open("/etc/resolv.conf", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dprintf(fd, "nameserver " ORCH_VM_NET_DNS "\n");
            close(fd);
        }
    }
    return rc;
}
