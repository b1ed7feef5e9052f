#include "transport/host_lookup.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <thread>

namespace edgeflow {
namespace {

std::string FirstAddress(const addrinfo* ai) {
  char text[INET6_ADDRSTRLEN] = "";
  for (; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET)
      return inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr, text, sizeof text);
  }
  return "";
}

addrinfo* Resolve(const char* host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* r = nullptr;
  return getaddrinfo(host, nullptr, &hints, &r) == 0 ? r : nullptr;
}

TEST(HostLookup, NumericHostsNeedNoLookup) {
  EXPECT_TRUE(IsNumericHost("127.0.0.1"));
  EXPECT_TRUE(IsNumericHost("::1"));
  EXPECT_TRUE(IsNumericHost("fe80::1"));
  EXPECT_FALSE(IsNumericHost("localhost"));
  EXPECT_FALSE(IsNumericHost("broker.example.com"));
  EXPECT_FALSE(IsNumericHost("127.0.0.1.example.com"));
  EXPECT_FALSE(IsNumericHost(""));
}

TEST(HostLookup, LooksUpOnAThreadOfItsOwn) {
  HostLookup lookup;
  EXPECT_FALSE(lookup.started());
  ASSERT_TRUE(lookup.Start("localhost").ok());
  EXPECT_TRUE(lookup.started());
  ASSERT_TRUE(lookup.Wait(std::chrono::seconds(10)));
  HostLookup::Answer a = lookup.Take();
  EXPECT_FALSE(lookup.started()) << "idle again once taken";
  ASSERT_NE(a.addresses, nullptr) << a.error;
  EXPECT_EQ(FirstAddress(a.addresses), "127.0.0.1");
  freeaddrinfo(a.addresses);
  EXPECT_EQ(HostLookup::waiting(), 0);
}

// An abandoned lookup is freed by its thread (the sanitizer build checks
// that nothing leaks), and the count of waiting lookups comes back down.
TEST(HostLookup, AnAbandonedLookupCleansUpAfterItself) {
  for (int i = 0; i < 5; ++i) {
    HostLookup lookup;
    ASSERT_TRUE(lookup.Start("localhost").ok());
  }
  for (int i = 0; i < 200 && HostLookup::waiting() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(HostLookup::waiting(), 0);
}

// The library's own lookup of the name, on the thread that holds the
// handoff, gets the addresses found: once, for that name, on that thread.
TEST(HostLookup, TheHandoffAnswersTheLibrarysLookupOnce) {
  ASSERT_TRUE(LookupInterposed()) << "the test binary must export getaddrinfo like the daemon";
  addrinfo* found = Resolve("127.0.0.2");
  ASSERT_NE(found, nullptr);
  {
    LookupHandoff handoff("broker.example.com", found);
    EXPECT_FALSE(handoff.taken());
    // Another thread, or another name: libc answers.
    std::string elsewhere;
    std::thread([&] {
      addrinfo* r = Resolve("localhost");
      elsewhere = FirstAddress(r);
      if (r) freeaddrinfo(r);
    }).join();
    EXPECT_EQ(elsewhere, "127.0.0.1");
    addrinfo* other = Resolve("localhost");
    ASSERT_NE(other, nullptr);
    EXPECT_NE(other, found);
    freeaddrinfo(other);
    EXPECT_FALSE(handoff.taken());

    addrinfo* mine = Resolve("broker.example.com");
    EXPECT_EQ(mine, found);
    EXPECT_TRUE(handoff.taken());
    EXPECT_EQ(FirstAddress(mine), "127.0.0.2");
    freeaddrinfo(mine);  // handed over: ours to free
  }
  // Out of scope: the name is libc's again (a numeric one, so no DNS is asked).
  addrinfo* after = Resolve("127.0.0.3");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(FirstAddress(after), "127.0.0.3");
  freeaddrinfo(after);
}

TEST(HostLookup, AddressesNotHandedOverAreFreedWithTheScope) {
  addrinfo* found = Resolve("127.0.0.2");
  ASSERT_NE(found, nullptr);
  LookupHandoff handoff("never.asked.example", found);
  EXPECT_FALSE(handoff.taken());
  // Leaving the scope frees `found` (checked by the sanitizer build).
}

}  // namespace
}  // namespace edgeflow
