// TLS end to end: the MQTT source verifies the broker's certificate against
// its CA (and refuses a broker signed by another CA); the API serves HTTPS.
// Certificates are generated per test with the openssl command.
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <regex>

#include "broker.h"
#include "process.h"
#include "store/store.h"

namespace edgeflow {
namespace {

namespace fs = std::filesystem;
using testing::Broker;
using testing::Child;
using testing::TempDir;
using testing::TestClient;

const std::string kBin = EDGEFLOW_BINARY;

// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
bool MakeCerts(const std::string& dir, const std::string& prefix,
               const std::string& san = "subjectAltName=IP:127.0.0.1,DNS:localhost") {
  std::string out, err;
  auto run = [&](std::vector<std::string> args) {
    return testing::RunCommand(args, &out, &err, dir, std::chrono::seconds(60)) == 0;
  };
  const std::string d = dir + "/" + prefix;
  std::ofstream(d + "ext.cnf") << san << "\n";
  // The broker drops root privileges to its own user: it must be able to read the files.
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                        std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                        std::filesystem::perms::others_exec);
  const bool ok = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
              "/CN=edgeflow test CA " + prefix, "-keyout", d + "ca.key", "-out", d + "ca.crt"}) &&
         run({"/usr/bin/openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=edgeflow test server", "-keyout",
              d + "server.key", "-out", d + "server.csr"}) &&
         run({"/usr/bin/openssl", "x509", "-req", "-in", d + "server.csr", "-CA", d + "ca.crt", "-CAkey", d + "ca.key",
              "-CAcreateserial", "-days", "2", "-extfile", d + "ext.cnf", "-out", d + "server.crt"});
  for (const char* f : {"ca.crt", "server.crt", "server.key"})
    std::filesystem::permissions(d + f, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                            std::filesystem::perms::group_read | std::filesystem::perms::others_read);
  return ok;
}

std::string Config(const std::string& dir, int port, const std::string& ca) {
  return "node: {id: tls, data_dir: " + dir + "}\n"
         "sources:\n"
         "  - id: devices\n    type: mqtt\n    topics: ['sensors/#']\n    topic_map: sensors/{sensor}/{metric}\n"
         "    broker: {port: " + std::to_string(port) + ", reconnect_min_secs: 0.05, reconnect_max_secs: 0.2, tls: {ca_file: " + ca + "}}\n"
         "sinks:\n  - {id: db, type: sqlite, inputs: [devices], retention_secs: 0}\n";
}

int64_t Stored(const std::string& db) {
  auto s = Store::Open(db);
  return s.ok() ? *(*s)->Count("readings") : -1;
}

TEST(Tls, MqttSourceVerifiesTheBrokerCertificate) {
  TempDir dir;
  ASSERT_TRUE(MakeCerts(dir.path(), "a-"));
  ASSERT_TRUE(MakeCerts(dir.path(), "b-"));
  const int tls_port = testing::FreePort();
  // One plain listener (for the test's publisher) and one TLS listener (for edgeflow).
  Broker broker(dir.path(), "listener " + std::to_string(tls_port) + " 127.0.0.1\ncafile " + (dir / "a-ca.crt") +
                                "\ncertfile " + (dir / "a-server.crt") + "\nkeyfile " + (dir / "a-server.key") + "\n");
  ASSERT_TRUE(testing::WaitFor([&] { return testing::PortOpen(tls_port); }, std::chrono::seconds(10))) << broker.log();

  {  // Trusted CA: readings flow.
    std::ofstream(dir / "good.yaml") << Config(dir / "good", tls_port, dir / "a-ca.crt");
    Child daemon({kBin, "run", "-c", dir / "good.yaml"}, dir / "good.out", dir / "good.err");
    TestClient pub(broker.port(), "pub");
    ASSERT_TRUE(testing::WaitFor([&] {
      pub.Publish("sensors/t1/temp", "21.5");
      return std::filesystem::exists(dir / "good/edgeflow.db") && Stored(dir / "good/edgeflow.db") > 0;
    })) << daemon.err() << broker.log();
    daemon.Signal(SIGTERM);
    EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
  }
  {  // Another CA: the connection is refused, nothing flows, the reason is logged.
    std::ofstream(dir / "bad.yaml") << Config(dir / "bad", tls_port, dir / "b-ca.crt");
    Child daemon({kBin, "run", "-c", dir / "bad.yaml"}, dir / "bad.out", dir / "bad.err");
    TestClient pub(broker.port(), "pub2");
    ASSERT_TRUE(testing::WaitFor([&] { return daemon.err().find("mqtt: 127.0.0.1:" + std::to_string(tls_port)) != std::string::npos; }))
        << daemon.err();
    for (int i = 0; i < 5; ++i) pub.Publish("sensors/t1/temp", "21.5");
    daemon.Signal(SIGTERM);
    EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
    EXPECT_EQ(daemon.err().find("mqtt: connected"), std::string::npos) << daemon.err();
    EXPECT_LE(Stored(dir / "bad/edgeflow.db"), 0);
  }
}

TEST(Tls, ApiServesHttps) {
  TempDir dir;
  ASSERT_TRUE(MakeCerts(dir.path(), ""));
  std::ofstream(dir / "c.yaml") << "node: {data_dir: " << dir.path() << "}\napi: {port: 0, tls_cert: " << (dir / "server.crt")
                                << ", tls_key: " << (dir / "server.key")
                                << "}\nsources: [{id: in, type: ingest}]\nsinks: [{id: o, type: file, inputs: [in]}]\n";
  Child daemon({kBin, "run", "-c", dir / "c.yaml"}, dir / "out", dir / "err");
  std::smatch m;
  std::string err;
  ASSERT_TRUE(testing::WaitFor([&] {
    err = daemon.err();
    return std::regex_search(err, m, std::regex("API listening on https://127.0.0.1:(\\d+)"));
  })) << daemon.err();
  const int port = std::stoi(m[1]);
  httplib::SSLClient c("127.0.0.1", port);
  c.set_ca_cert_path((dir / "ca.crt").c_str());
  c.enable_server_certificate_verification(true);
  auto res = c.Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(c.Get("/api/v1/status")->status, 401);
  httplib::Client plain("127.0.0.1", port);
  EXPECT_FALSE(plain.Get("/healthz")) << "no plain HTTP on the TLS port";
}

// The uplink refuses a cloud broker whose certificate is for another host or
// signed by a CA it does not trust: clear error, nothing sent, all kept.
TEST(Tls, UplinkRefusesWrongHostAndUntrustedCertificates) {
  TempDir dir;
  ASSERT_TRUE(MakeCerts(dir.path(), "good-"));
  ASSERT_TRUE(MakeCerts(dir.path(), "other-host-", "subjectAltName=DNS:cloud.example.com"));
  ASSERT_TRUE(MakeCerts(dir.path(), "rogue-"));
  struct Case {
    const char* name;
    const char* server;  // whose server certificate the broker presents
  } cases[] = {{"wrong-host", "other-host-"}, {"untrusted", "rogue-"}, {"trusted", "good-"}};
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    // The CA the uplink trusts is always good-ca.crt; other-host- certificates
    // are signed by their own CA, which we add to the broker's chain only.
    const std::string ca = k.server == std::string("other-host-") ? dir / "other-host-ca.crt" : dir / "good-ca.crt";
    const int tls_port = testing::FreePort();
    fs::create_directories(dir / k.name);
    Broker broker(dir / k.name, "listener " + std::to_string(tls_port) + " 127.0.0.1\ncafile " + (dir / "good-ca.crt") +
                                   "\ncertfile " + (dir / (std::string(k.server) + "server.crt")) + "\nkeyfile " +
                                   (dir / (std::string(k.server) + "server.key")) + "\n");
    ASSERT_TRUE(testing::WaitFor([&] { return testing::PortOpen(tls_port); }, std::chrono::seconds(10))) << broker.log();
    TestClient cloud(broker.port(), "cloud");
    ASSERT_TRUE(cloud.Subscribe("edgeflow/#"));
    const std::string node = dir / (std::string(k.name) + "-node");
    std::ofstream(node + ".yaml")
        << "node: {id: n1, data_dir: " << node << "}\n"
        << "sources: [{id: sim, type: simulator, sensors: [{id: s1, interval_secs: 0.01}]}]\n"
        << "sinks:\n  - {id: cloud, type: uplink, inputs: [sim], include: [readings],\n"
        << "     broker: {port: " << tls_port << ", reconnect_min_secs: 0.05, reconnect_max_secs: 0.2, tls: {ca_file: " << ca
        << "}}}\n";
    Child daemon({kBin, "run", "-c", node + ".yaml"}, node + ".out", node + ".err");
    if (std::string(k.name) == "trusted") {
      EXPECT_TRUE(cloud.WaitMessages(3)) << daemon.err() << broker.log();
    } else {
      ASSERT_TRUE(testing::WaitFor([&] { return daemon.err().find("connection error") != std::string::npos; }))
          << daemon.err();
      // A few more attempts fail the same way; nothing reaches the subscriber.
      EXPECT_FALSE(cloud.WaitMessages(1, std::chrono::milliseconds(1500)));
      EXPECT_EQ(daemon.err().find("mqtt: connected"), std::string::npos) << daemon.err();
      EXPECT_NE(daemon.err().find("certificate verify failed"), std::string::npos) << "a clear reason\n" << daemon.err();
    }
    daemon.Signal(SIGTERM);
    EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
  }
}

// Mutual TLS, as AWS IoT Core, Azure IoT Hub and EMQX require: the broker
// accepts only clients with a certificate from its CA.
TEST(Tls, UplinkAuthenticatesWithAClientCertificate) {
  TempDir dir;
  ASSERT_TRUE(MakeCerts(dir.path(), "m-"));
  std::string out, err;
  auto run = [&](std::vector<std::string> args) { return testing::RunCommand(args, &out, &err, dir.path()) == 0; };
  ASSERT_TRUE(run({"/usr/bin/openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=gw-7", "-keyout",
                   dir / "client.key", "-out", dir / "client.csr"}));
  ASSERT_TRUE(run({"/usr/bin/openssl", "x509", "-req", "-in", dir / "client.csr", "-CA", dir / "m-ca.crt", "-CAkey",
                   dir / "m-ca.key", "-CAcreateserial", "-days", "2", "-out", dir / "client.crt"}));
  const int tls_port = testing::FreePort();
  Broker broker(dir.path(), "listener " + std::to_string(tls_port) + " 127.0.0.1\ncafile " + (dir / "m-ca.crt") +
                                "\ncertfile " + (dir / "m-server.crt") + "\nkeyfile " + (dir / "m-server.key") +
                                "\nrequire_certificate true\n");
  ASSERT_TRUE(testing::WaitFor([&] { return testing::PortOpen(tls_port); }, std::chrono::seconds(10))) << broker.log();
  TestClient cloud(broker.port(), "cloud");
  ASSERT_TRUE(cloud.Subscribe("edgeflow/#"));
  for (bool with_cert : {false, true}) {
    SCOPED_TRACE(with_cert ? "with client certificate" : "without");
    const std::string node = dir / (with_cert ? "cert-node" : "nocert-node");
    std::ofstream(node + ".yaml")
        << "node: {id: gw-7, data_dir: " << node << "}\n"
        << "sources: [{id: sim, type: simulator, sensors: [{id: s1, interval_secs: 0.01}]}]\n"
        << "sinks:\n  - {id: cloud, type: uplink, inputs: [sim], include: [readings],\n"
        << "     broker: {port: " << tls_port << ", reconnect_min_secs: 0.05, reconnect_max_secs: 0.2, tls: {ca_file: "
        << (dir / "m-ca.crt")
        << (with_cert ? ", cert_file: " + (dir / "client.crt") + ", key_file: " + (dir / "client.key") : std::string())
        << "}}}\n";
    Child daemon({kBin, "run", "-c", node + ".yaml"}, node + ".out", node + ".err");
    if (with_cert) {
      EXPECT_TRUE(cloud.WaitMessages(3)) << daemon.err() << broker.log();
      EXPECT_NE(cloud.messages()[0].first.find("edgeflow/gw-7/readings"), std::string::npos);
    } else {
      ASSERT_TRUE(testing::WaitFor([&] { return daemon.err().find("connection") != std::string::npos; })) << daemon.err();
      EXPECT_FALSE(cloud.WaitMessages(1, std::chrono::milliseconds(1000)));
      EXPECT_EQ(daemon.err().find("mqtt: connected"), std::string::npos) << daemon.err();
    }
    daemon.Signal(SIGTERM);
    EXPECT_EQ(daemon.Wait(std::chrono::seconds(20)), 0);
  }
}

}  // namespace
}  // namespace edgeflow
