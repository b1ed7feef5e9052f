// The peer benchmark's job with nothing but the transport, as a floor to
// compare edgeflow against: two libmosquitto connections (subscribe; publish
// with TCP_NODELAY, as edgeflow does), a crude parse of the generator's fixed
// layout, a 10-value ring per sensor, snprintf, publish. No validation, no
// dead letters, no configuration: a measuring stick, not a product.
//   gcc -O2 -o /tmp/floor-job bench/floor-job.c -lmosquitto
//   bash ../shared/bench/peers/bench_cmd.sh --label floor --peer-cmd "/tmp/floor-job {host} {port}" --runs 3
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct mosquitto *pub;
#define MAXS 4096
static double ring[MAXS][10];
static int cnt[MAXS], pos[MAXS];
static char names[MAXS][32];
static int nnames;

static int sensor_index(const char *s, int len) {
  for (int i = 0; i < nnames; ++i)
    if ((int)strlen(names[i]) == len && memcmp(names[i], s, len) == 0) return i;
  if (nnames == MAXS) return -1;
  memcpy(names[nnames], s, len);
  names[nnames][len] = 0;
  return nnames++;
}

static const char *field(const char *p, const char *key) { return strstr(p, key); }

static void on_msg(struct mosquitto *m, void *u, const struct mosquitto_message *msg) {
  (void)m; (void)u;
  char buf[512];
  int n = msg->payloadlen < 511 ? msg->payloadlen : 511;
  memcpy(buf, msg->payload, n);
  buf[n] = 0;
  const char *s = field(buf, "\"sensor\":\"");
  const char *t = field(buf, "\"ts\":");
  const char *v = field(buf, "\"value\":");
  if (!s || !t || !v) return;
  s += 10;
  const char *e = strchr(s, '"');
  if (!e) return;
  int idx = sensor_index(s, (int)(e - s));
  if (idx < 0) return;
  long long ts = atoll(t + 5);
  double val = atof(v + 8);
  ring[idx][pos[idx]] = val;
  pos[idx] = (pos[idx] + 1) % 10;
  if (cnt[idx] < 10) cnt[idx]++;
  double sum = 0;
  for (int i = 0; i < cnt[idx]; ++i) sum += ring[idx][i];
  double mean = sum / cnt[idx];
  if (val > 80 || mean > 70) {
    char topic[64], out[256];
    snprintf(topic, sizeof topic, "alerts/%s", names[idx]);
    int len = snprintf(out, sizeof out, "{\"sensor\":\"%s\",\"ts\":%lld,\"value\":%g,\"mean\":%g,\"reason\":\"%s\"}",
                       names[idx], ts, val, mean, val > 80 ? "value" : "mean");
    mosquitto_publish(pub, NULL, topic, len, out, 0, false);
  }
}

static void on_connect(struct mosquitto *m, void *u, int rc) {
  (void)u;
  if (rc == 0) mosquitto_subscribe(m, NULL, "sensors/+/temperature", 0);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int port = atoi(argv[2]);
  mosquitto_lib_init();
  struct mosquitto *sub = mosquitto_new(NULL, true, NULL);
  pub = mosquitto_new(NULL, true, NULL);
  mosquitto_int_option(pub, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_int_option(sub, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_connect_callback_set(sub, on_connect);
  mosquitto_message_callback_set(sub, on_msg);
  if (mosquitto_connect(pub, argv[1], port, 30) || mosquitto_connect(sub, argv[1], port, 30)) return 1;
  for (;;) {
    if (mosquitto_loop(sub, 100, 1) != MOSQ_ERR_SUCCESS) return 1;
    if (mosquitto_want_write(pub)) mosquitto_loop(pub, 0, 1);
    mosquitto_loop_misc(pub);
  }
}
