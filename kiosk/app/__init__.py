"""The touchscreen app: thin Kivy views over the checkout flow, the signage player and the
terminal's own state (pure modules here import no Kivy; `kiosk.app.env` prepares Kivy's
environment before the first `import kivy`).

Pure:  profiles (screen profiles, dp/sp, pane rectangles), i18n (zh/en strings, money),
       screens (checkout state -> view model), shell (which screen is up, idle timeout,
       offline notice, hidden technician corner), pin (technician PIN with lock-out),
       watchdog (systemd notify protocol), logbuffer (recent logs for the technician).
Kivy:  widgets, attract, checkout_view, technician, root, app.
"""
