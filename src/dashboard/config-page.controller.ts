import { Body, Get, Post, Render, Res } from '@nestjs/common';
import type { Response } from 'express';
import { InvalidInput } from '../common/domain-errors';
import { ConfigService } from '../config/config.service';
import { DashboardController } from './dashboard-controller.decorator';
import { DashboardSession } from './dashboard-sessions';
import { formFields } from './form-input';
import { CurrentSession } from './session.guard';

/** The settings, each with its own small form; a refused value is shown back with the reason. */
@DashboardController()
export class ConfigPageController {
  constructor(private readonly config: ConfigService) {}

  @Get('config')
  @Render('pages/config')
  page() {
    return this.view();
  }

  @Post('config')
  async set(@Body() body: unknown, @CurrentSession() session: DashboardSession, @Res() res: Response) {
    const { key = '', value = '' } = formFields(body);
    try {
      const saved = await this.config.set(key, value);
      session.flash = { kind: 'ok', text: `${saved.key} is now ${saved.value}.` };
      res.redirect(303, '/config');
    } catch (e) {
      if (!(e instanceof InvalidInput)) throw e;
      res.status(400).render('pages/config', this.view({ key, value, error: e.message }));
    }
  }

  private view(refused?: { key: string; value: string; error: string }) {
    const settings = this.config.describe().map((s) => {
      const mine = refused?.key === s.key;
      return { ...s, shown: mine ? refused.value : s.value, error: mine ? refused.error : null, changed: s.value !== s.default };
    });
    const orphan = refused && !settings.some((s) => s.error) ? refused.error : null;
    return { title: 'Configuration', nav: 'config', entries: settings, error: orphan };
  }
}
