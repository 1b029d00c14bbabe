/* For tests: two parsed headers compared field by field, with gtest. */
#pragma once

#include <gtest/gtest.h>

#include "wire/message.hpp"

namespace kdbus::wire::test {

/* The fields parse_message() fills, compared. */
inline void expect_same_header(const Header& a, const Header& b) {
    EXPECT_EQ(a.endian, b.endian);
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.flags, b.flags);
    EXPECT_EQ(a.body_length, b.body_length);
    EXPECT_EQ(a.serial, b.serial);
    EXPECT_EQ(a.path, b.path);
    EXPECT_EQ(a.interface, b.interface);
    EXPECT_EQ(a.member, b.member);
    EXPECT_EQ(a.error_name, b.error_name);
    EXPECT_EQ(a.destination, b.destination);
    EXPECT_EQ(a.sender, b.sender);
    EXPECT_EQ(a.signature, b.signature);
    EXPECT_EQ(a.reply_serial, b.reply_serial);
    EXPECT_EQ(a.unix_fds, b.unix_fds);
    EXPECT_EQ(a.body_offset, b.body_offset);
}

}  // namespace kdbus::wire::test
