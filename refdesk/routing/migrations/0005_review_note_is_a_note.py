from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("routing", "0004_move_staff_text_to_notes")]

    operations = [
        migrations.RemoveField(model_name="review", name="note"),
        migrations.RenameField(model_name="review", old_name="written_note", new_name="note"),
    ]
