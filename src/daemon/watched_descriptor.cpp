#include "daemon/watched_descriptor.hpp"

#include <unistd.h>

#include <boost/system/system_error.hpp>

namespace kdbus::daemon {

WatchedDescriptor::WatchedDescriptor(boost::asio::io_context& io, int fd)
    : io_(io), reactor_(boost::asio::use_service<Reactor>(io)), fd_(fd) {
    reactor_.init_task();  // makes the io_context run the reactor (as Asio's own services do)
    if (int err = reactor_.register_descriptor(fd_, data_)) {
        ::close(fd_);
        throw boost::system::system_error(err, boost::system::system_category(), "register_descriptor");
    }
}

WatchedDescriptor::~WatchedDescriptor() { close(); }

void WatchedDescriptor::cancel() {
    if (fd_ >= 0) reactor_.cancel_ops(fd_, data_);
}

void WatchedDescriptor::close() {
    if (fd_ < 0) return;
    // Not "closing": like stream_descriptor for an fd it was given (it may
    // have been duplicated), remove it from epoll explicitly.
    reactor_.deregister_descriptor(fd_, data_, false);
    ::close(fd_);
    fd_ = -1;
    reactor_.cleanup_descriptor_data(data_);
}

}  // namespace kdbus::daemon
