"""The domain: sites, reps, visitors, offers, chat, push, jobs and mail. Each owns its state
through ``backend.store``; none imports the web edge."""
